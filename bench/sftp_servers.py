"""The servers of the SFTP benchmark (bench_sftp.py) and their accounting: the gateway
(temporary config, N workers), OpenSSH sshd + internal-sftp (needs root), ``rclone serve
sftp``, a minimal asyncssh SFTP server (``python bench/sftp_servers.py PORT ROOT KEYS``),
and the CPU / RSS / PSS of a server's whole process tree."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # test support: localnet
from localnet import free_port, wait_port  # noqa: E402 - after the path insert
from serve_tree import prepare_gateway  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# --- process-tree accounting ------------------------------------------------------------
def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            with contextlib.suppress(OSError):
                ppid = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
                kids.setdefault(ppid, []).append(int(d))
    return kids


def tree(pid: int) -> list[int]:
    kids, out, todo = _children(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def tree_cpu(pid: int) -> float:
    """utime+stime of the tree, plus the reaped children's time of every member."""
    total = 0
    for p in tree(pid):
        with contextlib.suppress(OSError):
            f = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in f[11:15])
    return total / TICK


def tree_pss(pid: int) -> int:
    """Proportional set size of the tree (shared copy-on-write pages counted once)."""
    total = 0
    for p in tree(pid):
        with contextlib.suppress(OSError, IndexError, ValueError):
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
    return total


def tree_rss(pid: int) -> int:
    total = 0
    for p in tree(pid):
        with contextlib.suppress(OSError, IndexError):
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * PAGE
    return total


class RssSampler:
    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            time.sleep(0.1)

    def __enter__(self) -> RssSampler:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


# --- servers ------------------------------------------------------------------------------
@dataclass
class Server:
    name: str
    port: int
    login: str
    proc: subprocess.Popen[bytes]
    root: Path  # local directory behind "/" (None-like for the gateway: catalog)
    populate: object = None  # callable(n) making n entries in /list
    encrypted: bool = False

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def start_gateway(base: Path, key_pub: str, workers: int) -> Server:
    from gateway import admin
    from gateway.core import Core

    port = free_port()
    cfg = prepare_gateway(base, f"[sftp]\nport = {port}\nworkers = {workers}\n", key_pub)
    cfg_path = base / "gateway.toml"
    env = dict(os.environ, LUMANOX_CONFIG=str(cfg_path), PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "gateway.sftp"], env=env,
                            stdout=subprocess.DEVNULL, start_new_session=True)
    wait_port(port)

    def populate(n: int) -> None:
        with Core.open(cfg) as core:
            s = core.session(admin.principal_for(core, "bench", "bench"), "bench", "127.0.0.1")
            s.mkdir("/list", exist_ok=True)
            for i in range(n):
                s.write_file(f"/list/f{i:05d}", b"x")

    return Server("gateway", port, "bench@bench", proc, base, populate, encrypted=True)


def _populate_dir(root: Path) -> Callable[[int], None]:
    """``populate`` of a peer serving the local directory ``root``."""
    def populate(n: int) -> None:
        (root / "list").mkdir(exist_ok=True)
        for i in range(n):
            (root / "list" / f"f{i:05d}").write_bytes(b"x")

    return populate


def start_openssh(base: Path, key_pub: str) -> Server | None:
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    if not os.path.exists(sshd) or os.geteuid() != 0:
        print("  (OpenSSH peer skipped: needs sshd and root)")
        return None
    Path("/run/sshd").mkdir(exist_ok=True, mode=0o755)
    root = base / "files"
    root.mkdir(parents=True)
    hk = base / "hostkey"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(hk)], check=True)
    ak = base / "authorized_keys"
    ak.write_text(key_pub)
    ak.chmod(0o600)
    port = free_port()
    conf = base / "sshd_config"
    conf.write_text(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {hk}
PidFile {base / 'sshd.pid'}
AuthorizedKeysFile {ak}
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
Subsystem sftp internal-sftp -d {root}
ForceCommand internal-sftp -d {root}
""")
    proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(conf)], stderr=subprocess.DEVNULL,
                            start_new_session=True)
    wait_port(port)

    return Server("openssh", port, os.environ.get("USER", "root"), proc, root,
                  _populate_dir(root))


def start_rclone(base: Path, key_pub: str) -> Server | None:
    rclone = shutil.which("rclone")
    if not rclone:
        print("  (rclone peer skipped: rclone not installed)")
        return None
    root = base / "files"
    root.mkdir(parents=True)
    ak = base / "authorized_keys"
    ak.write_text(key_pub)
    port = free_port()
    proc = subprocess.Popen([rclone, "serve", "sftp", str(root), "--addr", f"127.0.0.1:{port}",
                             "--authorized-keys", str(ak), "--config", "/dev/null",
                             "--dir-cache-time", "1s"],
                            stderr=subprocess.DEVNULL, start_new_session=True)
    wait_port(port)

    return Server("rclone", port, "bench", proc, root, _populate_dir(root))


def start_asyncssh(base: Path, key_pub: str) -> Server:
    root = base / "files"
    root.mkdir(parents=True)
    ak = base / "authorized_keys"
    ak.write_text(key_pub)
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, str(port), str(root), str(ak)],
                            start_new_session=True)
    wait_port(port)

    return Server("asyncssh", port, "bench", proc, root, _populate_dir(root))


def serve_asyncssh(port: int, root: str, authorized: str) -> None:
    """The minimal asyncssh peer: stock SFTPServer chrooted to ``root``."""
    import asyncssh

    class Chroot(asyncssh.SFTPServer):
        def __init__(self, chan: asyncssh.SSHServerChannel) -> None:
            super().__init__(chan, chroot=root.encode())

    async def main() -> None:
        key = asyncssh.generate_private_key("ssh-ed25519")
        await asyncssh.listen("127.0.0.1", port, server_host_keys=[key],
                              authorized_client_keys=authorized, sftp_factory=Chroot)
        await asyncio.Event().wait()

    asyncio.run(main())


if __name__ == "__main__":
    serve_asyncssh(int(sys.argv[1]), sys.argv[2], sys.argv[3])
