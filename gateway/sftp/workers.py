"""Process model: a supervisor and N worker processes sharing the port (SO_REUSEPORT).

The supervisor checks what can be checked once (host keys readable, port free,
catalog migrated), forks the workers, prints one line saying where it listens when all
of them listen, restarts a worker that dies, and stops them all on SIGTERM/SIGINT.
Each worker opens its own ``Access`` (the front-ends' view of the core) and runs one
asyncio loop with a thread pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import select
import signal
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import asyncssh

from gateway.config import Config
from gateway.errors import GatewayError
from gateway.frontends import notify_ready, takeover

READY_TIMEOUT = 60.0
PREFIX = "lumanox-gateway sftp"


class StartupError(Exception):
    """A one-line reason the server cannot start."""


def worker_count(config: Config) -> int:
    return config.sftp.workers or os.cpu_count() or 1


def load_host_keys(config: Config) -> list[asyncssh.SSHKey]:
    keys = []
    for name in config.sftp.host_keys:
        path = config.path(name)
        try:
            keys.append(asyncssh.read_private_key(str(path)))
        except FileNotFoundError:
            raise StartupError(f"SSH host key {path} is missing; run `lumanox-gateway init` "
                               "or fix sftp.host_keys") from None
        except (OSError, asyncssh.KeyImportError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            raise StartupError(f"SSH host key {path} cannot be read: {reason}") from None
    if not keys:
        raise StartupError("sftp.host_keys is empty: at least one host key is needed")
    return keys


def check_port_free(host: str, port: int) -> None:
    """Bind without SO_REUSEPORT: fails if anything (even another gateway) listens."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StartupError(f"port {host}:{port} is already in use "
                                   "(sftp.port)") from None
            raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


async def _worker_main(config: Config, keys: list[asyncssh.SSHKey], ready_fd: int) -> None:
    from gateway.access import Access
    from gateway.sftp import asyncssh_ext, proxied, quietlog
    from gateway.sftp.algorithms import policy_from_config
    from gateway.sftp.connection import GuardedSSHServer

    asyncssh_ext.install()
    quietlog.install()
    access = Access.open(config, migrate=False)
    executor = ThreadPoolExecutor(config.sftp.io_threads, thread_name_prefix="sftp-core")
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        listen = proxied.listener_for(config.sftp)  # asyncssh.listen unless proxy_protocol
        server = await listen(
            config.sftp.host, config.sftp.port, reuse_port=True, reuse_address=True,
            server_factory=lambda: GuardedSSHServer(access, executor),
            server_host_keys=keys, login_timeout=config.sftp.login_timeout,
            keepalive_interval=60, keepalive_count_max=3, allow_pty=False,
            agent_forwarding=False, x11_forwarding=False, line_editor=False,
            server_version="LumanoxGateway", **policy_from_config(config).options())
        os.write(ready_fd, b"+")
        os.close(ready_fd)
        await stop.wait()
        server.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 10)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)  # let running commits finish
        access.close()


def _run_worker(config: Config, keys: list[asyncssh.SSHKey], ready_fd: int) -> int:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    profile = os.environ.get("LUMANOX_SFTP_PROFILE")  # a path prefix: debugging aid
    try:
        if profile:
            import cProfile

            cProfile.runctx("asyncio.run(_worker_main(config, keys, ready_fd))", globals(),
                            locals(), f"{profile}.{os.getpid()}")
        else:
            asyncio.run(_worker_main(config, keys, ready_fd))
    except (GatewayError, OSError) as exc:
        print(f"{PREFIX} worker {os.getpid()}: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


def _fork_worker(config: Config, keys: list[asyncssh.SSHKey], ready_w: int) -> int:
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            code = _run_worker(config, keys, ready_w)
        finally:
            os._exit(code)
    return pid


def serve(config: Config) -> int:
    """Run the SFTP front-end until SIGTERM; returns the exit code."""
    from gateway.access import Access
    from gateway.sftp.algorithms import policy_from_config

    try:
        keys = load_host_keys(config)
        policy_from_config(config)
        if not takeover():  # a reload joins the running generation's port on purpose
            check_port_free(config.sftp.host, config.sftp.port)
        Access.open(config, migrate=None).close()  # migrations once, before the workers
        _preload_worker_modules()
    except (StartupError, GatewayError) as exc:
        print(f"{PREFIX}: {exc}", file=sys.stderr, flush=True)
        return 2
    n = worker_count(config)
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    ready_r, ready_w = os.pipe()
    children: set[int] = set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    for _ in range(n):
        children.add(_fork_worker(config, keys, ready_w))
    if not _wait_ready(ready_r, n, children):
        on_signal(signal.SIGTERM, None)
        _reap_all(children)
        print(f"{PREFIX}: workers failed to start on {config.sftp.host}:{config.sftp.port}",
              file=sys.stderr, flush=True)
        return 1
    print(f"{PREFIX}: listening on {config.sftp.host}:{config.sftp.port} "
          f"({n} worker{'s' if n != 1 else ''})", flush=True)
    notify_ready()
    restarts: list[float] = []
    while children:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        children.discard(pid)
        if stopping:
            continue
        now = time.monotonic()
        restarts = [t for t in restarts if now - t < 60] + [now]
        if len(restarts) > 10:
            print(f"{PREFIX}: workers keep dying; stopping", file=sys.stderr, flush=True)
            on_signal(signal.SIGTERM, None)
            _reap_all(children)
            return 1
        print(f"{PREFIX}: worker {pid} exited ({status}); restarting", file=sys.stderr,
              flush=True)
        children.add(_fork_worker(config, keys, ready_w))
    return 0


def _preload_worker_modules() -> None:
    """Import what every worker needs once, before forking: workers start without it."""
    import gateway.access
    import gateway.sftp.asyncssh_ext
    import gateway.sftp.auth  # noqa: F401


def _wait_ready(ready_r: int, n: int, children: set[int]) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT
    got = 0
    while got < n:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        readable, _, _ = select.select([ready_r], [], [], min(left, 0.2))
        if readable:
            got += len(os.read(ready_r, n - got))
        for pid in list(children):
            done, _status = os.waitpid(pid, os.WNOHANG)
            if done:
                children.discard(pid)
                return False
    return True


def _reap_all(children: set[int]) -> None:
    deadline = time.monotonic() + 15
    while children and time.monotonic() < deadline:
        for pid in list(children):
            with contextlib.suppress(ChildProcessError):
                done, _ = os.waitpid(pid, os.WNOHANG)
                if done:
                    children.discard(pid)
        time.sleep(0.05)
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
