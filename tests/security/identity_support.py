"""Helpers of the identity attack tests (#9 items 2, 5, 10, 13, 14, 15, 20).

The harness lives in ``conftest.py`` (its fixtures are found by pytest); its plain helpers
(``prepare_gateway``, ``PW``, ...) are re-exported here.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from . import conftest as harness

PW: str = harness.PW
ROOT: Path = harness.ROOT
IN_CI: bool = harness.IN_CI


def new_key(folder: Path, name: str = "id_ed25519") -> tuple[Path, str]:
    """A fresh ed25519 key written for OpenSSH/paramiko (0600); returns (path, public line)."""
    key = ed25519.Ed25519PrivateKey.generate()
    path = folder / name
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.OpenSSH,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    line = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                         serialization.PublicFormat.OpenSSH).decode()
    return path, line + " test@key"


def paramiko_transport(port: int):  # type: ignore[no-untyped-def]
    """A started paramiko client transport to the gateway's SSH port (not authenticated)."""
    import paramiko

    t = paramiko.Transport(("127.0.0.1", port))
    t.banner_timeout = t.auth_timeout = 30
    t.start_client(timeout=30)
    return t


def offered_methods(port: int, login: str) -> list[str]:
    """The SSH methods the server offers ``login`` before any credential (``none`` auth)."""
    import paramiko

    t = paramiko_transport(port)
    try:
        try:
            t.auth_none(login)
        except paramiko.BadAuthenticationType as exc:
            return list(exc.allowed_types)
        return ["<none accepted>"]
    finally:
        t.close()


def enroll_totp(core, tenant: str, user: str) -> str:  # type: ignore[no-untyped-def]
    """Enrol and confirm TOTP for ``user`` (with the previous step's code); the secret."""
    import time

    import pyotp

    from gateway.policy import totp

    e = totp.enroll(core, tenant, user)
    totp.confirm(core, tenant, user, pyotp.TOTP(e.secret).at(time.time() - totp.STEP_S))
    return e.secret


def webdav_answer(gw, login: str, password: str) -> tuple[str, str, str]:  # type: ignore[no-untyped-def]
    """(status, WWW-Authenticate header, body) of an authenticated PROPFIND."""
    r = gw.curl("-X", "PROPFIND", "-H", "Depth: 0", "-D", "-", "/", login=login,
                password=password)
    head, _, body = r.stdout.replace("\r\n", "\n").partition("\n\n")
    lines = head.splitlines()
    status = lines[0].split()[1] if lines and len(lines[0].split()) > 1 else "?"
    auth = next((x for x in lines if x.lower().startswith("www-authenticate:")), "")
    return status, auth, body


def timed(fn, *args) -> float:  # type: ignore[no-untyped-def]
    """Wall time of one call."""
    import time

    t0 = time.monotonic()
    fn(*args)
    return time.monotonic() - t0
