"""Front-end processes for ``serve``: start one, learn when it listens, stop it.

A front-end (``gateway.<name>.__main__.main``) manages its own workers and, once all of
them accept connections, writes one line to the pipe named by ``$LUMANOX_READY_FD``
(``notify_ready``). ``serve`` starts front-ends in one of two ways:

- ``fork``: a child of the supervisor that has already imported the core and checked the
  catalog, so it starts without a fresh interpreter (the fast first start);
- ``spawn``: a fresh ``python -m gateway.<name>`` (a reload: new code and configuration),
  told by ``$LUMANOX_TAKEOVER=1`` that the running generation still holds the port, so
  its "port already in use" check must not refuse (the workers join the port with
  SO_REUSEPORT, which only processes of the same user can do).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import os
import select
import signal
import subprocess
import sys
import time

READY_FD_ENV = "LUMANOX_READY_FD"
TAKEOVER_ENV = "LUMANOX_TAKEOVER"
PR_SET_PDEATHSIG = 1


# --- inside a front-end -------------------------------------------------------------------
def takeover() -> bool:
    """True when ``serve`` started us to take over from a running generation (skip the
    port check); ``serve`` removes the variable from its own environment, so a value
    inherited from outside never lets a second gateway share a port."""
    return os.environ.get(TAKEOVER_ENV) == "1" and READY_FD_ENV in os.environ


def forget_outside_takeover() -> None:
    """In ``serve``: ignore a takeover flag found in the environment we were started with."""
    os.environ.pop(TAKEOVER_ENV, None)


def notify_ready() -> None:
    """Tell ``serve`` (if it started us) that every worker of this front-end listens."""
    value = os.environ.pop(READY_FD_ENV, "")
    if not value.isdigit():
        return
    with contextlib.suppress(OSError):
        os.write(int(value), b"ready\n")
        os.close(int(value))


def _die_with_supervisor(supervisor: int) -> None:
    """Linux: SIGTERM this front-end when ``serve`` dies, even by SIGKILL, so that no
    orphan keeps the ports and the service manager's restart can bind them."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != supervisor:  # serve died before prctl took effect
        os._exit(0)


# --- in the supervisor ----------------------------------------------------------------------
class FrontEnd:
    """One front-end process: a forked child or a spawned interpreter."""

    def __init__(self, name: str, pid: int, ready_r: int,
                 popen: subprocess.Popen[bytes] | None = None) -> None:
        self.name, self.pid, self.ready_r, self.popen = name, pid, ready_r, popen
        self.returncode: int | None = None
        self.ready = False

    def poll(self) -> int | None:
        """The exit code once the process has ended, else None (never blocks)."""
        if self.returncode is None:
            if self.popen is not None:
                self.returncode = self.popen.poll()
            else:
                with contextlib.suppress(ChildProcessError):
                    done, status = os.waitpid(self.pid, os.WNOHANG)
                    if done:
                        self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def signal(self, signum: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def wait(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while self.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.returncode

    def close_pipe(self) -> None:
        if self.ready_r >= 0:
            with contextlib.suppress(OSError):
                os.close(self.ready_r)
            self.ready_r = -1


def fork_front_end(name: str, config_source: str | None) -> FrontEnd:
    """Run ``gateway.<name>.__main__.main()`` in a forked child."""
    ready_r, ready_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    supervisor = os.getpid()
    pid = os.fork()
    if pid == 0:  # child: never returns
        code = 1
        try:
            _die_with_supervisor(supervisor)
            os.close(ready_r)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(sig, signal.SIG_DFL)
            os.environ[READY_FD_ENV] = str(ready_w)
            if config_source:
                os.environ["LUMANOX_CONFIG"] = config_source
            code = importlib.import_module(f"gateway.{name}.__main__").main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException as exc:
            print(f"lumanox-gateway {name}: cannot start: {type(exc).__name__}: {exc}",
                  file=sys.stderr)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    os.close(ready_w)
    return FrontEnd(name, pid, ready_r)


def spawn_front_end(name: str, config_source: str | None, *, takeover: bool) -> FrontEnd:
    """Run ``python -m gateway.<name>`` in a fresh interpreter."""
    ready_r, ready_w = os.pipe()
    env = dict(os.environ)
    env[READY_FD_ENV] = str(ready_w)
    if config_source:
        env["LUMANOX_CONFIG"] = config_source
    if takeover:
        env[TAKEOVER_ENV] = "1"
    supervisor = os.getpid()
    try:
        popen = subprocess.Popen([sys.executable, "-m", f"gateway.{name}"], env=env,
                                 pass_fds=(ready_w,),
                                 preexec_fn=lambda: _die_with_supervisor(supervisor))
    finally:
        os.close(ready_w)
    return FrontEnd(name, popen.pid, ready_r, popen)


def wait_ready(front_ends: list[FrontEnd], timeout: float,
               cancelled: object = None) -> FrontEnd | None:
    """Wait until every front-end has reported ready; the first that failed, else None.

    A front-end fails by exiting, by closing its pipe without a word, or by not being
    ready within ``timeout`` seconds. ``cancelled`` (a callable) stops the wait early."""
    deadline = time.monotonic() + timeout
    pending = {fe.ready_r: fe for fe in front_ends if not fe.ready}
    while pending:
        if callable(cancelled) and cancelled():
            return next(iter(pending.values()))
        left = deadline - time.monotonic()
        if left <= 0:
            return next(iter(pending.values()))
        readable, _, _ = select.select(list(pending), [], [], min(left, 0.2))
        for fd in readable:
            fe = pending.pop(fd)
            data = b""
            with contextlib.suppress(OSError):
                data = os.read(fd, 64)
            fe.close_pipe()
            if not data.startswith(b"ready"):
                return fe
            fe.ready = True
        for fe in pending.values():
            if fe.poll() is not None:
                return fe
    return None


def stop_all(front_ends: list[FrontEnd], grace: float = 15.0) -> None:
    """SIGTERM every front-end, wait up to ``grace`` seconds, then SIGKILL the rest."""
    for fe in front_ends:
        fe.signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for fe in front_ends:
        if fe.wait(max(0.0, deadline - time.monotonic())) is None:
            fe.signal(signal.SIGKILL)
            fe.wait(5.0)
        fe.close_pipe()
