"""litmus (the WebDAV conformance suite), every suite, over TLS: 100% and no warnings."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from conftest import PASSWORDS, Gateway, free_port, require_tool, start_gateway, write_config

SUITES = ("basic", "copymove", "props", "locks", "http")


def run_litmus(url: str, cwd: Path) -> str:
    exe = require_tool("litmus")
    out = subprocess.run([exe, url, "alice@acme", PASSWORDS["alice@acme"]], cwd=cwd,
                         capture_output=True, timeout=600)
    return out.stdout.decode("utf-8", "replace") + out.stderr.decode("utf-8", "replace")


def check(output: str, suites: tuple[str, ...]) -> None:
    for suite in suites:
        m = re.search(rf"summary for `{suite}': of (\d+) tests run: (\d+) passed, "
                      rf"(\d+) failed", output)
        assert m, f"suite {suite} did not run:\n{output[-3000:]}"
        assert m.group(1) == m.group(2) and m.group(3) == "0", output[-3000:]
    failures = [line for line in output.splitlines() if "FAIL" in line]
    warnings = [line for line in output.splitlines() if "WARNING" in line]
    assert not failures and not warnings, "\n".join(failures + warnings)


def test_litmus_all_suites_over_tls(gateway: Gateway, tmp_path: Path) -> None:
    c = gateway.client()
    c.request("DELETE", "/litmus-tls")
    assert c.request("MKCOL", "/litmus-tls").status == 201
    check(run_litmus(f"{gateway.url}/litmus-tls/", tmp_path), SUITES)


def test_litmus_http_suite_expect100_on_loopback_http(gateway_dir: Path,
                                                      tmp_path: Path) -> None:
    """litmus skips its Expect: 100-continue test over TLS; run it on a loopback HTTP
    listener (plain HTTP is only possible there, when explicitly enabled)."""
    cfg = write_config(gateway_dir.parent, free_port(), name="gw-litmus-http.toml", tls=False,
                       workers=1)
    gw = start_gateway(cfg, tls=False)
    try:
        c = gw.client()
        c.request("DELETE", "/litmus-http")
        assert c.request("MKCOL", "/litmus-http").status == 201
        out = run_litmus(f"{gw.url}/litmus-http/", tmp_path)
        check(out, SUITES)
        assert "expect100" in out and "SKIPPED" not in out
    finally:
        gw.stop()
