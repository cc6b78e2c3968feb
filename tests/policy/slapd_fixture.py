"""A throwaway OpenLDAP slapd for the tests, on 127.0.0.1 and free ports.

The directory recipe (slapd.conf/data templates, setup script in ``tests/policy/ldap/``,
or ``$LUMANOX_LDAP_RECIPE``) is copied at run time into a temporary folder; slapd runs
attached (``-d``) so that the test owns its process and stops
it by its own pid. Tenants: ou=acme (alice, bob, carol locked by ppolicy, groups acme-admins,
acme-users) and ou=globex (alice with another password, dave).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from localnet import free_port

RECIPE = Path(os.environ.get("LUMANOX_LDAP_RECIPE", Path(__file__).with_name("ldap")))
SBIN = "/usr/sbin:/sbin"
BASE_DN = "dc=example,dc=org"
SVC_DN = "cn=svc-gateway,ou=services,dc=example,dc=org"
SVC_PW = "svc-secret"
PASSWORDS = {("acme", "alice"): "alice-acme-pw", ("acme", "bob"): "bob-pw",
             ("acme", "carol"): "carol-pw", ("globex", "alice"): "alice-globex-pw",
             ("globex", "dave"): "dave-pw"}


def _which(name: str) -> str | None:
    return shutil.which(name, path=os.environ.get("PATH", "") + ":" + SBIN)


def slapd_problem() -> str | None:
    """Why slapd tests cannot run here (None if they can)."""
    for tool, pkg in (("slapd", "slapd"), ("slapadd", "slapd"), ("ldapsearch", "ldap-utils"),
                      ("openssl", "openssl")):
        if _which(tool) is None:
            return f"{tool} not installed (Debian package {pkg})"
    if not (RECIPE / "setup.sh").exists():
        return f"LDAP recipe not found at {RECIPE} (set LUMANOX_LDAP_RECIPE)"
    return None


class Slapd:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.tls_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.tls_port}"

    @property
    def ca_file(self) -> str:
        return str(self.base / "tls" / "ca.pem")

    def setup(self) -> None:
        for item in RECIPE.iterdir():
            if item.is_file():
                shutil.copy(item, self.base / item.name)
        env = {**os.environ, "BASE": str(self.base),
               "PATH": os.environ.get("PATH", "") + ":" + SBIN}
        subprocess.run(["bash", str(self.base / "setup.sh")], env=env, check=True,
                       capture_output=True, timeout=60)

    def start(self) -> None:
        slapd = _which("slapd")
        assert slapd
        log = open(self.base / "logs" / "slapd.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [slapd, "-d", "stats", "-f", str(self.base / "slapd.conf"), "-h",
             f"ldap://127.0.0.1:{self.port}/ ldaps://127.0.0.1:{self.tls_port}/"],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("slapd exited: see " + str(self.base / "logs" / "slapd.log"))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2), \
                        socket.create_connection(("127.0.0.1", self.tls_port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("slapd did not start listening")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def unlock(self, dn: str) -> None:
        """Clear a ppolicy lock / failure count (as the rootdn)."""
        ldif = f"dn: {dn}\nchangetype: modify\ndelete: pwdFailureTime\n"
        subprocess.run([_which("ldapmodify") or "ldapmodify", "-x", "-H", self.url, "-D",
                        f"cn=admin,{BASE_DN}", "-w", "admin-secret"], input=ldif.encode(),
                       capture_output=True, timeout=10)


@contextlib.contextmanager
def running_slapd(base: Path) -> Iterator[Slapd]:
    """A started throwaway slapd in ``base``; skips (fails under CI=true) without slapd."""
    import pytest

    problem = slapd_problem()
    if problem:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI requires slapd: {problem}")
        pytest.skip(problem)
    server = Slapd(base)
    server.setup()
    server.start()
    try:
        yield server
    finally:
        server.stop()
