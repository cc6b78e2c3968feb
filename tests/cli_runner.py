"""Runs ``lumanox-gateway`` as a real command (a subprocess) with a throwaway config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

CLI = [sys.executable, "-m", "gateway"]
ROOT = Path(__file__).resolve().parents[1]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any LUMANOX_* variable (plus ``extra``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUMANOX_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], input=stdin, capture_output=True, text=True,
                          cwd=cwd, env=env if env is not None else clean_env(),
                          timeout=timeout)


class CliEnv:
    """A config file under ``base`` (catalog ``db_url`` or SQLite in ``base/var``)."""

    def __init__(self, base: Path, db_url: str | None = None, extra: str = "",
                 sftp_extra: str = "") -> None:
        self.base = base
        self.config = base / "gateway.toml"
        catalog = f'[catalog]\nurl = "{db_url}"\n' if db_url else ""
        self.config.write_text(
            f'[gateway]\ndata_dir = "var"\n{catalog}'
            f'[tls]\ncert_file = "certs/gw.crt"\nkey_file = "certs/gw.key"\n'
            f'[sftp]\nhost_keys = ["certs/ssh_host_ed25519_key", '
            f'"certs/ssh_host_ecdsa_key"]\n{sftp_extra}\n'
            f'[audit]\nlog = "off"\n{extra}')

    def run(self, *args: str, ok: bool = True, stdin: str | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        p = run_cli(*args, cwd=self.base, env=clean_env(LUMANOX_CONFIG=str(self.config)),
                    stdin=stdin, timeout=timeout)
        if ok:
            assert p.returncode == 0, f"{args}: exit {p.returncode}: {p.stderr}"
        return p

    def json(self, *args: str, stdin: str | None = None) -> Any:
        return json.loads(self.run(*args, "--json", stdin=stdin).stdout)


def killed_after(args: list[str], *, cwd: Path, env: dict[str, str], first_line: str,
                 stream: str = "stderr") -> str:
    """Run ``lumanox-gateway ARGS`` until it prints a line starting with ``first_line`` on
    ``stream`` (stdout or stderr), SIGKILL it there, and return that line."""
    import signal

    proc = subprocess.Popen([*CLI, *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out = proc.stdout if stream == "stdout" else proc.stderr
        assert out is not None and proc.stderr is not None
        line = out.readline()
        assert line.startswith(first_line), (line, proc.stderr.read())
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return line
