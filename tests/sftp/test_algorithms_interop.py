"""Issue #10.2: the default algorithms must let every maintained SSH client library in.

Each client is restricted to its own (narrow) algorithm list where it has one, so the
test shows that exactly that combination is accepted: AES-CTR with SHA-2 HMACs (plain
and encrypt-then-MAC), the ECDH / DH-group-exchange key exchanges of older JSch and
SSH.NET, and libssh2 as Debian's curl ships it (no AES-GCM, no -etm MACs). Never
accepted: CBC, SHA-1. ``[sftp] profile = "modern"`` keeps the strict AEAD-only set.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
from pathlib import Path

import asyncssh
import pytest

from .conftest import PW, Gateway, need, start_gateway, stop

LOGIN = "alice@acme"
NO_HOSTKEY = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"

pytestmark = pytest.mark.timeout(300)


def _payload(tag: str) -> bytes:
    return hashlib.shake_256(tag.encode()).digest(200_000)


def _remote_bytes(gateway: Gateway, name: str) -> bytes:
    async def fetch() -> bytes:
        async with asyncssh.connect("127.0.0.1", gateway.port, username=LOGIN, password=PW,
                                    known_hosts=None, client_keys=None, agent_path=None,
                                    preferred_auth="password", config=None) as conn, \
                conn.start_sftp_client() as sftp, sftp.open(name, "rb") as f:
            return await f.read()

    return asyncio.run(fetch())


# --- OpenSSH (each restricted to one cipher / MAC / kex) -------------------------------------
OPENSSH_CASES = {
    "aes128-ctr+hmac-sha2-256": ["Ciphers=aes128-ctr", "MACs=hmac-sha2-256"],
    "aes256-ctr+hmac-sha2-512": ["Ciphers=aes256-ctr", "MACs=hmac-sha2-512"],
    "aes128-ctr+hmac-sha2-256-etm": ["Ciphers=aes128-ctr",
                                     "MACs=hmac-sha2-256-etm@openssh.com"],
    "aes256-ctr+hmac-sha2-512-etm": ["Ciphers=aes256-ctr",
                                     "MACs=hmac-sha2-512-etm@openssh.com"],
    "ecdh-nistp256 (older JSch, SSH.NET)": ["KexAlgorithms=ecdh-sha2-nistp256",
                                            "Ciphers=aes128-ctr", "MACs=hmac-sha2-256"],
    "dh-group-exchange-sha256": ["KexAlgorithms=diffie-hellman-group-exchange-sha256",
                                 "Ciphers=aes256-ctr", "MACs=hmac-sha2-256"],
    "dh-group14-sha256": ["KexAlgorithms=diffie-hellman-group14-sha256",
                          "Ciphers=aes128-ctr", "MACs=hmac-sha2-512"],
    "aes-gcm (modern default)": ["Ciphers=aes128-gcm@openssh.com"],
}


def _o(options: list[str]) -> list[str]:
    return [arg for opt in options for arg in ("-o", opt)]


@pytest.mark.parametrize("case", list(OPENSSH_CASES))
def test_openssh_restricted(gateway: Gateway, work: Path, case: str) -> None:
    name = "ossh-" + "".join(c if c.isalnum() else "-" for c in case) + ".bin"
    (work / name).write_bytes(_payload(case))
    r = gateway.sftp_batch(LOGIN, f"put {name}\nget {name} back.bin\n", cwd=work,
                           extra=_o(OPENSSH_CASES[case]))
    assert r.returncode == 0, r.stderr
    assert (work / "back.bin").read_bytes() == _payload(case)


@pytest.mark.parametrize("options", [["Ciphers=aes128-cbc"], ["Ciphers=aes128-ctr",
                                                               "MACs=hmac-sha1"]],
                         ids=["cbc", "hmac-sha1"])
def test_openssh_weak_algorithms_still_refused(gateway: Gateway, work: Path,
                                               options: list[str]) -> None:
    r = gateway.sftp_batch(LOGIN, "ls\n", cwd=work, extra=_o(options))
    assert r.returncode != 0


# --- paramiko: only aes128-ctr and hmac-sha2-256 ---------------------------------------------
def test_paramiko_ctr_and_plain_hmac(gateway: Gateway) -> None:
    import paramiko

    keep_ciphers, keep_macs = {"aes128-ctr"}, {"hmac-sha2-256"}
    disabled = {
        "ciphers": [c for c in paramiko.Transport._preferred_ciphers if c not in keep_ciphers],
        "macs": [m for m in paramiko.Transport._preferred_macs if m not in keep_macs],
    }
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507
    client.connect("127.0.0.1", port=gateway.port, username=LOGIN, password=PW,
                   look_for_keys=False, allow_agent=False, timeout=20,
                   disabled_algorithms=disabled)
    try:
        transport = client.get_transport()
        assert transport is not None
        assert transport.local_cipher == "aes128-ctr"
        assert transport.local_mac == "hmac-sha2-256"
        sftp = client.open_sftp()
        with sftp.open("paramiko-ctr.bin", "wb") as f:
            f.write(_payload("paramiko"))
        with sftp.open("paramiko-ctr.bin", "rb") as f:
            assert f.read() == _payload("paramiko")
    finally:
        client.close()


# --- asyncssh: aes256-ctr and hmac-sha2-512-etm ----------------------------------------------
def test_asyncssh_ctr_and_etm(gateway: Gateway) -> None:
    async def run() -> None:
        async with asyncssh.connect(
                "127.0.0.1", gateway.port, username=LOGIN, password=PW, known_hosts=None,
                client_keys=None, agent_path=None, preferred_auth="password",
                encryption_algs=["aes256-ctr"],
                mac_algs=["hmac-sha2-512-etm@openssh.com"]) as conn:
            assert conn.get_extra_info("send_cipher") == "aes256-ctr"
            assert conn.get_extra_info("send_mac") == "hmac-sha2-512-etm@openssh.com"
            async with conn.start_sftp_client() as sftp:
                async with sftp.open("asyncssh-ctr.bin", "wb") as f:
                    await f.write(_payload("asyncssh"))
                async with sftp.open("asyncssh-ctr.bin", "rb") as f:
                    assert await f.read() == _payload("asyncssh")

    asyncio.run(run())


# --- libssh2: Debian's curl (sftp://) and ssh2-python ----------------------------------------
def test_curl_libssh2_sftp(gateway: Gateway, work: Path) -> None:
    curl = need("curl")
    version = subprocess.run([curl, "-V"], capture_output=True, text=True).stdout
    assert "libssh2" in version or "libssh/" in version, version
    src = work / "curl-up.bin"
    src.write_bytes(_payload("curl"))
    url = f"sftp://127.0.0.1:{gateway.port}/curl-up.bin"
    up = subprocess.run([curl, "-sS", "-k", "--max-time", "60", "-u", f"{LOGIN}:{PW}",
                         "-T", str(src), url], capture_output=True, text=True, timeout=90)
    assert up.returncode == 0, up.stderr
    down = subprocess.run([curl, "-sS", "-k", "--max-time", "60", "-u", f"{LOGIN}:{PW}",
                           "-o", str(work / "curl-down.bin"), url],
                          capture_output=True, text=True, timeout=90)
    assert down.returncode == 0, down.stderr
    assert (work / "curl-down.bin").read_bytes() == _payload("curl")


def test_ssh2_python_libssh2_ctr(gateway: Gateway) -> None:
    import socket

    ssh2_session = pytest.importorskip("ssh2.session")
    from ssh2.sftp import LIBSSH2_FXF_CREAT, LIBSSH2_FXF_TRUNC, LIBSSH2_FXF_WRITE

    sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=20)
    session = ssh2_session.Session()
    for method, value in ((ssh2_session.LIBSSH2_METHOD_CRYPT_CS, "aes128-ctr"),
                          (ssh2_session.LIBSSH2_METHOD_CRYPT_SC, "aes128-ctr"),
                          (ssh2_session.LIBSSH2_METHOD_MAC_CS, "hmac-sha2-256"),
                          (ssh2_session.LIBSSH2_METHOD_MAC_SC, "hmac-sha2-256")):
        session.method_pref(method, value)
    try:
        session.handshake(sock)
        assert session.methods(ssh2_session.LIBSSH2_METHOD_CRYPT_CS) == "aes128-ctr"
        session.userauth_password(LOGIN, PW)
        sftp = session.sftp_init()
        with sftp.open("/ssh2-python.bin",
                       LIBSSH2_FXF_CREAT | LIBSSH2_FXF_WRITE | LIBSSH2_FXF_TRUNC, 0o644) as f:
            f.write(_payload("ssh2-python"))
    finally:
        session.disconnect()
        sock.close()
    assert _remote_bytes(gateway, "/ssh2-python.bin") == _payload("ssh2-python")


# --- libssh (ansible-pylibssh): only its key exchange list can be set ----------------------
def _pylibssh_put(port: int, work: Path, name: str) -> None:
    """Upload with libssh restricted to the NIST ECDH key exchange (older SSH.NET/JSch)."""
    session_mod = pytest.importorskip("pylibsshext.session")
    src = work / name
    src.write_bytes(_payload(name))
    session = session_mod.Session()
    session.connect(host="127.0.0.1", port=port, user=LOGIN, password=PW,
                    host_key_checking=False, look_for_keys=False, timeout=20,
                    key_exchange_algorithms="ecdh-sha2-nistp256")
    try:
        sftp = session.sftp()
        sftp.put(str(src), "/" + name)
        sftp.close()
    finally:
        session.close()


def test_pylibssh_ecdh(gateway: Gateway, work: Path) -> None:
    _pylibssh_put(gateway.port, work, "pylibssh.bin")
    assert _remote_bytes(gateway, "/pylibssh.bin") == _payload("pylibssh.bin")


# --- lftp (over OpenSSH with a restricted list) and rclone (Go x/crypto defaults) -----------
def test_lftp_restricted(gateway: Gateway, work: Path) -> None:
    lftp = need("lftp")
    need("ssh")
    (work / "lftp.bin").write_bytes(_payload("lftp"))
    setup = (f'set sftp:connect-program "ssh -a -x {NO_HOSTKEY} -o Ciphers=aes256-ctr '
             "-o MACs=hmac-sha2-256-etm@openssh.com "
             "-o PreferredAuthentications=password,keyboard-interactive "
             '-o PubkeyAuthentication=no"; '
             "set net:max-retries 1; set net:timeout 20; set cmd:fail-exit yes; ")
    r = subprocess.run([lftp, "-u", f"{LOGIN},{PW}", "-p", str(gateway.port), "-e",
                        setup + f"put {work / 'lftp.bin'} -o lftp.bin; quit",
                        "sftp://127.0.0.1"], capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _remote_bytes(gateway, "/lftp.bin") == _payload("lftp")


def test_rclone_default(gateway: Gateway, work: Path) -> None:
    rclone = need("rclone")
    obscured = subprocess.run([rclone, "obscure", PW], capture_output=True, text=True,
                              check=True).stdout.strip()
    (work / "rclone.bin").write_bytes(_payload("rclone"))
    env = dict(os.environ, RCLONE_CONFIG="/dev/null")
    r = subprocess.run([rclone, "copyto", str(work / "rclone.bin"), ":sftp:rclone.bin",
                        "--sftp-host", "127.0.0.1", "--sftp-port", str(gateway.port),
                        "--sftp-user", LOGIN, "--sftp-pass", obscured,
                        "--sftp-disable-hashcheck", "--retries", "1"],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert _remote_bytes(gateway, "/rclone.bin") == _payload("rclone")


# --- the strict profile --------------------------------------------------------------------
def test_modern_profile_refuses_ctr(tmp_path: Path, work: Path) -> None:
    gw = start_gateway(tmp_path / "modern", extra='profile = "modern"')
    try:
        refused = gw.sftp_batch(LOGIN, "ls\n", cwd=work,
                                extra=_o(["Ciphers=aes128-ctr", "MACs=hmac-sha2-256"]))
        assert refused.returncode != 0
        accepted = gw.sftp_batch(LOGIN, "ls\n", cwd=work,
                                 extra=_o(["Ciphers=aes128-gcm@openssh.com"]))
        assert accepted.returncode == 0, accepted.stderr
        # libssh really is restricted to ECDH (which the modern profile does not offer)
        with pytest.raises(Exception, match="ssh connect failed"):
            _pylibssh_put(gw.port, work, "pylibssh-modern.bin")
    finally:
        stop(gw.proc)
