"""Issue #10.4: an SSH login is audited as ``ssh`` whatever channel follows; the channel's
own events (a legacy scp transfer, an SFTP session, a refused channel) carry the channel's
protocol."""

from __future__ import annotations

from pathlib import Path

from .conftest import Gateway, wait_until


def _events(gw: Gateway, **match: object) -> list[dict]:
    return [e for e in gw.audit_events() if all(e.get(k) == v for k, v in match.items())]


def _session_of(gw: Gateway, path: str) -> str:
    assert wait_until(lambda: any(e.get("path") == path for e in gw.audit_events()), 10)
    return next(e["session_id"] for e in gw.audit_events() if e.get("path") == path)


def test_legacy_scp_login_is_labelled_ssh(gateway: Gateway, work: Path) -> None:
    src = work / "label-scp.txt"
    src.write_text("x")
    r = gateway.scp(str(src), gateway.remote("bob@acme", "label-scp.txt"), legacy=True)
    assert r.returncode == 0, r.stderr
    sid = _session_of(gateway, "/label-scp.txt")
    logins = _events(gateway, action="login", session_id=sid)
    assert logins and {e["protocol"] for e in logins} == {"ssh"}
    writes = [e for e in gateway.audit_events()
              if e.get("session_id") == sid and e.get("action") != "login"]
    assert writes and {e["protocol"] for e in writes} == {"scp"}


def test_sftp_login_is_labelled_ssh(gateway: Gateway, work: Path) -> None:
    r = gateway.sftp_batch("bob@acme", "mkdir label-sftp\n")
    assert r.returncode == 0, r.stderr
    sid = _session_of(gateway, "/label-sftp")
    logins = _events(gateway, action="login", session_id=sid)
    assert logins and {e["protocol"] for e in logins} == {"ssh"}
    ops = [e for e in gateway.audit_events()
           if e.get("session_id") == sid and e.get("action") != "login"]
    assert ops and {e["protocol"] for e in ops} == {"sftp"}


def test_refused_channel_is_labelled_with_its_protocol(gateway: Gateway, work: Path) -> None:
    src = work / "label-refused.txt"
    src.write_text("x")
    r = gateway.scp(str(src), gateway.remote("dave@noscp", "x.txt"), legacy=True)
    assert r.returncode != 0
    assert wait_until(lambda: _events(gateway, action="login", user="dave", result="denied"))
    denied = _events(gateway, action="login", user="dave", result="denied")
    assert {e["protocol"] for e in denied} == {"scp"}
    accepted = _events(gateway, action="login", user="dave", result="ok")
    assert accepted and {e["protocol"] for e in accepted} == {"ssh"}
