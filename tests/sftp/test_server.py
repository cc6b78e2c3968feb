"""The process: start-up errors, worker processes, SIGTERM, algorithm policy."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import paramiko
import pytest

from gateway.cli.setup import ensure_ssh_host_keys
from gateway.config import load_config
from gateway.keyring import create_master_key_file

from .conftest import PW, SSH_BASE, Gateway, free_port, launch, need, stop, write_config


def _prepared(base: Path, port: int, **kw: object) -> Path:
    cfg_path = write_config(base, port, **kw)  # type: ignore[arg-type]
    cfg = load_config(cfg_path)
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    create_master_key_file(cfg.master_key_file)
    return cfg_path


def _errors(cfg_path: Path, proc: subprocess.Popen[str]) -> tuple[int, list[str]]:
    code = proc.wait(timeout=60)
    lines = [x for x in cfg_path.with_suffix(".err").read_text().splitlines() if x.strip()]
    return code, lines


def test_missing_host_key_one_clear_line(tmp_path: Path) -> None:
    cfg_path = _prepared(tmp_path, free_port())
    proc = launch(cfg_path, wait=False)
    code, lines = _errors(cfg_path, proc)
    assert code != 0
    assert len(lines) == 1, lines
    assert "host key" in lines[0] and "missing" in lines[0] and "init" in lines[0]


def test_busy_port_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg_path = _prepared(tmp_path, port)
        cfg = load_config(cfg_path)
        ensure_ssh_host_keys([cfg.path(p) for p in cfg.sftp.host_keys])
        proc = launch(cfg_path, wait=False)
        code, lines = _errors(cfg_path, proc)
    assert code != 0
    assert len(lines) == 1, lines
    assert "already in use" in lines[0] and str(port) in lines[0]


@pytest.mark.slow
def test_two_workers_share_the_port_and_stop_on_sigterm(tmp_path: Path) -> None:
    from .conftest import start_gateway

    gw = start_gateway(tmp_path / "gw2", workers=2)
    try:
        out = gw.config_path.with_suffix(".out").read_text().strip().splitlines()
        assert len(out) == 1 and f"127.0.0.1:{gw.port}" in out[0] and "2 workers" in out[0]
        pids = set()
        for _ in range(12):
            c = paramiko.SSHClient()
            c.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507
            c.connect("127.0.0.1", gw.port, username="alice@acme", password=PW,
                      allow_agent=False, look_for_keys=False, timeout=20)
            s = c.open_sftp()
            s.listdir(".")
            # which worker served us: the only child of the supervisor holding the conn
            pids.add(_server_pid(c))
            c.close()
        assert len(pids - {None}) == 2, pids
    finally:
        assert gw.proc is not None
        gw.proc.send_signal(signal.SIGTERM)
        assert gw.proc.wait(timeout=30) == 0


def _server_pid(client: paramiko.SSHClient) -> int | None:
    """The pid owning the server end of this client's TCP connection (via /proc)."""
    transport = client.get_transport()
    assert transport is not None
    local = transport.sock.getsockname()  # type: ignore[union-attr]
    want = f"{_hex_addr(local)}"
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[2] == want:
            inodes.add(fields[9])
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return int(pid) if int(pid) != os.getpid() else None
        except OSError:
            continue
    return None


def _hex_addr(addr: tuple[str, int]) -> str:
    ip = socket.inet_aton(addr[0])
    return f"{int.from_bytes(ip, 'little'):08X}:{addr[1]:04X}"


def test_no_weak_algorithms_by_default(gateway: Gateway) -> None:
    ssh = need("ssh")

    def attempt(*opts: str) -> str:
        r = subprocess.run([ssh, "-o", "LogLevel=INFO", *opts, *SSH_BASE, "-p", str(gateway.port),
                            "-o", "PreferredAuthentications=none", "nobody@acme@127.0.0.1", "true"],
                           capture_output=True, text=True, timeout=30,
                           env=gateway.ssh_env(PW), stdin=subprocess.DEVNULL)
        return r.stderr

    assert "no matching cipher" in attempt("-o", "Ciphers=aes128-cbc")
    assert "no matching key exchange" in attempt("-o", "KexAlgorithms=diffie-hellman-group14-sha1")
    # AES-CTR is in the default (compatible) profile since #10.2, but only with SHA-2 MACs
    assert "no matching" not in attempt("-o", "Ciphers=aes128-ctr")
    assert "no matching MAC" in attempt("-o", "Ciphers=aes128-ctr", "-o", "MACs=hmac-sha1")
    assert "no matching" not in attempt("-o", "Ciphers=aes128-gcm@openssh.com")
    assert "no matching" not in attempt("-o", "Ciphers=chacha20-poly1305@openssh.com")


def test_sigterm_stops_cleanly(tmp_path: Path) -> None:
    from .conftest import start_gateway

    gw = start_gateway(tmp_path / "gw3")
    assert gw.proc is not None
    time.sleep(0.2)
    gw.proc.send_signal(signal.SIGTERM)
    assert gw.proc.wait(timeout=30) == 0
    stop(gw.proc)


def test_algorithm_policy_has_no_sha1_or_cbc() -> None:
    from gateway.config import Config
    from gateway.sftp.algorithms import FORBIDDEN_MARKERS, policy_from_config

    policy = policy_from_config(Config())
    for name in policy.kex + policy.ciphers + policy.macs + policy.signatures:
        assert not any(m in name for m in FORBIDDEN_MARKERS), name
    assert policy.ciphers[0].startswith("aes128-gcm")
    assert "curve25519-sha256" in policy.kex


def test_algorithm_policy_is_configurable(tmp_path: Path) -> None:
    from gateway.errors import ConfigError
    from gateway.sftp.algorithms import policy_from_config

    cfg = load_config(write_config(tmp_path, 2222, extra='encryption_algs = ["aes256-ctr"]'))
    assert policy_from_config(cfg).ciphers == ["aes256-ctr"]
    cfg = load_config(write_config(tmp_path, 2222, extra='mac_algs = ["hmac-nope"]'))
    with pytest.raises(ConfigError, match="hmac-nope"):
        policy_from_config(cfg)


def test_lumanox_gateway_serve_runs_sftp(tmp_path: Path) -> None:
    """`lumanox-gateway serve` starts `python -m gateway.sftp` and stops it on SIGTERM."""
    import sys

    from .conftest import start_gateway

    gw = start_gateway(tmp_path / "gw4")
    stop(gw.proc)  # keep the prepared config/data, run it through the CLI instead
    with gw.config_path.open("a") as f:
        f.write("\n[webdav]\nenabled = false\n")
    cli = Path(sys.executable).with_name("lumanox-gateway")
    out = gw.config_path.with_suffix(".serve.out")
    with out.open("w") as o:
        proc = subprocess.Popen([str(cli), "serve", "--config", str(gw.config_path)],
                                stdout=o, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        from .conftest import wait_until

        assert wait_until(lambda: "listening on" in out.read_text(), 60), out.read_text()
        c = paramiko.SSHClient()
        c.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507
        c.connect("127.0.0.1", gw.port, username="alice@acme", password=PW,
                  allow_agent=False, look_for_keys=False, timeout=20)
        c.open_sftp().listdir(".")
        c.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0, out.read_text()


def test_sigterm_during_upload_keeps_previous_version(tmp_path: Path) -> None:
    from .conftest import SSH_OPTS, make_file, sha256_file, start_gateway

    gw = start_gateway(tmp_path / "gw5")
    assert gw.proc is not None
    try:
        old = tmp_path / "old.bin"
        old.write_bytes(b"committed before the shutdown\n")
        assert gw.sftp_batch("alice@acme", f"put {old} f.bin\n").returncode == 0
        big = make_file(tmp_path / "big.bin", 40 * 1024 * 1024, seed=51)
        args = [need("sftp"), *SSH_OPTS, "-l", "80000", "-P", str(gw.port), "-b", "-",
                "alice@acme@127.0.0.1"]
        client = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, text=True, env=gw.ssh_env(PW),
                                  start_new_session=True)
        assert client.stdin is not None
        client.stdin.write(f"put {big} f.bin\n")
        client.stdin.close()
        time.sleep(2.0)
        gw.proc.send_signal(signal.SIGTERM)
        assert gw.proc.wait(timeout=30) == 0
        client.wait(timeout=30)
        gw.proc = launch(gw.config_path)
        r = gw.sftp_batch("alice@acme", f"get f.bin {tmp_path / 'after.bin'}\n")
        assert r.returncode == 0, r.stderr
        assert sha256_file(tmp_path / "after.bin") == sha256_file(old)
    finally:
        stop(gw.proc)
