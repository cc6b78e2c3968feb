"""A ``serve`` process over a CLI env's catalog, for tests that drive it with real clients
(``curl`` as alice@acme); subclasses set ``env``, ``dav_port`` and ``ssh_port``."""

from __future__ import annotations

import signal
import subprocess
from typing import Self

import localnet
from cli_runner import CLI, CliEnv, clean_env

PASSWORD = "alice-secret-pw-1"


class ServedGateway:
    env: CliEnv
    dav_port: int
    ssh_port: int
    proc: subprocess.Popen[str] | None = None

    def start(self) -> Self:
        self.proc = subprocess.Popen(
            [*CLI, "serve"], cwd=self.env.base, env=clean_env(LUMANOX_CONFIG=str(self.env.config)),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

        def alive() -> None:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"serve exited: {self.proc.stderr.read()}")  # type: ignore[union-attr]

        for port in (self.dav_port, self.ssh_port):
            localnet.wait_port(port, 60, alive)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def curl(self, method: str, path: str, *args: str) -> tuple[int, bytes]:
        """(HTTP status, body) of one request as alice."""
        p = subprocess.run(
            ["curl", "-sk", "-X", method, "-u", f"alice@acme:{PASSWORD}", "-o", "-",
             "-w", "\n%{http_code}", *args, f"https://127.0.0.1:{self.dav_port}{path}"],
            capture_output=True, timeout=60, check=False)
        body, _, status = p.stdout.rpartition(b"\n")
        return int(status or 0), body
