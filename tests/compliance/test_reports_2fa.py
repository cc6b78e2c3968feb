"""The login report over logins the real Gate recorded: an SSH login with a key, then a
TOTP code (2FA required), and a refused TOTP code; on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pyotp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from gateway import admin
from gateway.compliance.reports.logins import iter_logins, login_report
from gateway.compliance.reports.scope import make_scope
from gateway.core import Core
from gateway.policy import manage, sshkeys, totp
from gateway.policy.gate import Attempt, Gate, Outcome


def test_login_report_shows_method_second_factor_and_client(core: Core) -> None:
    admin.create_tenant(core, "acme")
    admin.create_user(core, "acme", "alice", password="correct horse battery")
    manage.set_tenant_policy(core, "acme", second_factor="required")
    enrolled = totp.enroll(core, "acme", "alice")
    now = pyotp.TOTP(enrolled.secret)
    # confirmed with the previous step's code: the current one stays unused for the login
    totp.confirm(core, "acme", "alice", now.at(time.time() - totp.STEP_S))
    line = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    sshkeys.add_key(core, "acme", "alice", line + " k@test")
    gate = Gate(core)
    flow = gate.begin(Attempt("sftp", "alice@acme", "203.0.113.7", "SSH-2.0-TestClient_1.0"))
    assert flow.public_key_verified(line + " k@test").outcome is Outcome.CONTINUE
    flow.kbdint_prompts()
    assert flow.kbdint_answers([now.now()]).outcome is Outcome.ACCEPT
    bad = gate.begin(Attempt("sftp", "alice@acme", "198.51.100.4", "SSH-2.0-Other"))
    assert bad.public_key_verified(line + " k@test").outcome is Outcome.CONTINUE
    bad.kbdint_prompts()
    assert bad.kbdint_answers(["000000"]).outcome is Outcome.REJECT
    core.audit.flush()
    scope = make_scope(core.catalog, "acme", user="alice")
    rows = list(iter_logins(core.catalog, scope))
    steps = [(r["method"], r["step"], r["success"], r["second_factor"], r["remote_addr"],
              r["client"]) for r in rows]
    assert steps == [
        ("publickey", "partial", False, None, "203.0.113.7", "SSH-2.0-TestClient_1.0"),
        ("keyboard-interactive", "final", True, "totp", "203.0.113.7",
         "SSH-2.0-TestClient_1.0"),
        ("publickey", "partial", False, None, "198.51.100.4", "SSH-2.0-Other"),
        ("keyboard-interactive", "final", False, None, "198.51.100.4", "SSH-2.0-Other"),
    ], rows
    assert rows[-1]["result"] == "denied" and "TOTP" in rows[-1]["detail"]
    summary = login_report(core.catalog, scope).summary
    assert summary == {"attempts": 4, "ok": 3, "failed": 1, "users": 1}
