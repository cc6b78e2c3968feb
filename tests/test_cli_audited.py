"""Every state-changing CLI command leaves an audit event.

The test walks the argparse tree of ``lumanox-gateway``: each leaf command must be either
in ``READ_ONLY`` (with the reason it changes nothing) or have a scenario below that runs
it as a real command and finds the audit event it must leave. A new command that is in
neither list fails ``test_every_command_is_classified``.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pyotp
import pytest
from cli_runner import CliEnv
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import func, select

from gateway import admin
from gateway.catalog.tables import audit_events
from gateway.cli.main import build_parser
from gateway.config import load_config
from gateway.core import Core

#: commands that change no state, and why
READ_ONLY = {
    "status": "reads counts, the pid file, the metrics folder and recent failures; its "
              "listener probes send nothing audited (an anonymous OPTIONS, an SSH banner)",
    "serve": "long-running; every login and operation of its sessions is audited by the "
             "front-ends (tests/webdav, tests/sftp), not the command itself",
    "tenant list": "read", "tenant show": "read",
    "storage stores": "read (the configuration's stores and regions)",
    "user list": "read", "user show": "read",
    "keys list": "read",
    "audit verify": "read (a failed verification is audited: audit-verify, result error)",
    "audit tail": "read", "audit query": "read",
    "audit export": "reads the catalog; writes only its own output and cursor files",
    "files ls": "read (the session audits the listing)",
    "files get": "read (the session audits the read)",
    "policy show": "read", "policy explain": "evaluates a decision, stores nothing",
    "defender list": "read",
    "key list": "read",
    "app-password list": "read",
    "locks list": "read",
    "webhook list": "read (never the secrets)", "event list": "read (the outbox)",
    "event show": "read (one delivery and its attempts)",
    "event rule list": "read",
    "admin-token list": "read (never the secrets)",
    "metrics": "reads the running gateway's metrics folder",
    "alert rule list": "read", "alert list": "read",
    "alert rule test": "evaluates stored events; stores and sends nothing",
    "retention show": "read", "trash list": "read", "hold list": "read",
    "breach list": "read", "breach show": "read",
}


def leaf_commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[str]:
    leaves = []
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [" ".join(path)]
    for action in subs:
        for name, sub in action.choices.items():
            leaves += leaf_commands(sub, (*path, name))
    return leaves


def ssh_key_line() -> str:
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    return public.public_bytes(serialization.Encoding.OpenSSH,
                               serialization.PublicFormat.OpenSSH).decode() + " test@host"


class Audited:
    """Runs a command and returns the audit events it left."""

    def __init__(self, gw: CliEnv) -> None:
        self.gw = gw
        self.ran: set[str] = set()

    def _last_id(self) -> int:
        if not (self.gw.base / "var" / "catalog.db").exists():
            return 0
        with Core.open(load_config(self.gw.config), audit_log="off") as core, \
                core.catalog.read() as conn:
            return conn.execute(select(func.coalesce(func.max(audit_events.c.id), 0))).scalar()

    def events_after(self, last: int) -> list[dict]:
        with Core.open(load_config(self.gw.config), audit_log="off") as core, \
                core.catalog.read() as conn:
            return [dict(r) for r in conn.execute(
                select(audit_events).where(audit_events.c.id > last)
                .order_by(audit_events.c.id)).mappings()]

    def __call__(self, command: str, *args: str, expect: str, stdin: str | None = None
                 ) -> str:
        before = self._last_id()
        out = self.gw.run(*command.split(), *args, stdin=stdin).stdout
        actions = [e["action"] for e in self.events_after(before)]
        assert expect in actions, f"`{command}` left no {expect!r} audit event: {actions}"
        self.ran.add(command)
        return out


def test_every_command_is_classified() -> None:
    leaves = set(leaf_commands(build_parser()))
    unknown = sorted(leaves - set(READ_ONLY) - set(STATE_CHANGING))
    assert not unknown, ("commands neither in READ_ONLY nor audited by a scenario in "
                         f"tests/test_cli_audited.py: {unknown}")
    assert not (set(READ_ONLY) & set(STATE_CHANGING))
    assert not (set(READ_ONLY) | set(STATE_CHANGING)) - leaves, "stale entries"


#: state-changing commands and the audit action each must leave
STATE_CHANGING = {
    "init": "init", "migrate": "migrate", "gc": "gc",
    "tenant create": "tenant-create", "tenant set": "tenant-set",
    "tenant purge": "tenant-purge",
    "user create": "user-create", "user set": "user-set", "user passwd": "user-set",
    "user disable": "user-set", "user enable": "user-set", "user delete": "user-delete",
    "keys rotate-master": "master-key-rotate", "keys rotate-tenant": "tenant-key-rotate",
    "files mkdir": "mkdir", "files put": "write", "files mv": "move", "files rm": "delete",
    "policy set": "policy-set", "policy set-user": "policy-set", "policy ldap": "policy-set",
    "defender unban": "unban",
    "key add": "ssh-key-add", "key remove": "ssh-key-remove",
    "totp enroll": "totp-enroll", "totp confirm": "totp-confirm",
    "totp recovery-codes": "totp-recovery-codes", "totp disable": "totp-disable",
    "app-password create": "app-password-create", "app-password revoke": "app-password-revoke",
    "locks break": "lock-break",
    "audit erase": "audit-erase", "audit checkpoint": "audit-checkpoint",
    "webhook add": "webhook-add", "webhook remove": "webhook-remove",
    "event rule add": "event-rule-add", "event rule remove": "event-rule-remove",
    "admin-token create": "admin-token-create", "admin-token revoke": "admin-token-revoke",
    "alert rule set": "alert-rule-set",
    "retention set": "retention-set", "retention clear": "retention-clear",
    "retention run": "retention-run",
    "trash enable": "trash-enable", "trash disable": "trash-disable",
    "trash restore": "trash-restore", "trash purge": "trash-purge",
    "hold set": "hold-set", "hold release": "hold-release",
    "subject export": "subject-export", "subject erase": "subject-erase",
    # reads of personal data: who looked is audited (never the values looked for)
    "subject find": "subject-find",
    "report activity": "report-activity", "report logins": "report-logins",
    "breach report": "breach-report", "breach record": "breach-record",
    "storage migrate": "storage-migrate",
}


@pytest.fixture
def audited(tmp_path: Path) -> Audited:
    return Audited(CliEnv(tmp_path))


def test_every_state_changing_command_is_audited(audited: Audited, tmp_path: Path) -> None:
    a = audited
    ex = STATE_CHANGING
    a("init", expect=ex["init"])
    a("migrate", expect=ex["migrate"])
    a("tenant create", "acme", expect=ex["tenant create"])
    a("tenant set", "acme", "--quota-files", "100", expect=ex["tenant set"])
    a("user create", "alice@acme", "--generate-password", expect=ex["user create"])
    a("user create", "bob@acme", "--generate-password", expect=ex["user create"])
    a("user set", "alice@acme", "--quota-files", "50", expect=ex["user set"])
    a("user passwd", "alice@acme", "--generate-password", expect=ex["user passwd"])
    a("user disable", "bob@acme", expect=ex["user disable"])
    a("user enable", "bob@acme", expect=ex["user enable"])
    a("keys rotate-tenant", "acme", expect=ex["keys rotate-tenant"])
    a("keys rotate-master", expect=ex["keys rotate-master"])
    local = tmp_path / "report.txt"
    local.write_text("hello")
    a("files mkdir", "alice@acme", "/d", expect=ex["files mkdir"])
    a("files put", "alice@acme", str(local), "/d/r.txt", expect=ex["files put"])
    a("files mv", "alice@acme", "/d/r.txt", "/d/s.txt", expect=ex["files mv"])
    a("files rm", "alice@acme", "/d/s.txt", expect=ex["files rm"])
    _retention_scenario(a, local)
    a("policy set", "acme", "--max-sessions", "5", expect=ex["policy set"])
    a("policy set-user", "alice@acme", "--max-sessions", "2", expect=ex["policy set-user"])
    a("policy ldap", "acme", "--url", "ldaps://127.0.0.1:1", "--base-dn", "dc=acme",
      expect=ex["policy ldap"])
    with Core.open(load_config(a.gw.config), audit_log="off") as core:
        from gateway.policy.defender import Defender

        for _ in range(12):
            Defender(core).failure("192.0.2.1", "acme", "mallory")
    a("defender unban", "192.0.2.1", expect=ex["defender unban"])
    with Core.open(load_config(a.gw.config), audit_log="off") as core, \
            core.catalog.write() as conn:
        from gateway.catalog import locks as lock_store

        tenant_id = admin.get_tenant(core, "acme").id
        lock_store.create(conn, tenant_id, "tok-cli", {
            "root": "/d", "depth": "infinity", "scope": "exclusive", "owner": b"x",
            "principal": "alice@acme", "timeout": None})
    a("locks break", "tok-cli", expect=ex["locks break"])
    out = a("key add", "alice@acme", ssh_key_line(), expect=ex["key add"])
    fingerprint = re.search(r"(SHA256:\S+)", out).group(1)  # type: ignore[union-attr]
    a("key remove", "alice@acme", fingerprint, expect=ex["key remove"])
    a("app-password create", "alice@acme", "--label", "laptop",
      expect=ex["app-password create"])
    a("app-password revoke", "alice@acme", "laptop", expect=ex["app-password revoke"])
    secret = json.loads(a("totp enroll", "alice@acme", "--json",
                          expect=ex["totp enroll"]))["secret"]
    a("totp confirm", "alice@acme", pyotp.TOTP(secret).now(), expect=ex["totp confirm"])
    a("totp recovery-codes", "alice@acme", expect=ex["totp recovery-codes"])
    a("totp disable", "alice@acme", expect=ex["totp disable"])
    hook = json.loads(a("webhook add", "--tenant", "acme", "--url", "https://hooks.example/in",
                        "--json", expect=ex["webhook add"]))
    rule = json.loads(a("event rule add", "--tenant", "acme", "--path", "/d", "--webhook",
                        hook["id"], "--json", expect=ex["event rule add"]))
    a("event rule remove", rule["id"], expect=ex["event rule remove"])
    a("webhook remove", hook["id"], expect=ex["webhook remove"])
    a("gc", expect=ex["gc"])
    a("admin-token create", "--name", "ops", "--scope", "read", "--expires", "30d",
      expect=ex["admin-token create"])
    a("admin-token revoke", "ops", expect=ex["admin-token revoke"])
    a("user delete", "bob@acme", expect=ex["user delete"])
    a("audit erase", "--tenant", "acme", "--user", "bob", "--yes", expect=ex["audit erase"])
    a("report activity", "--tenant", "acme", "--user", "alice", "--format", "csv",
      expect=ex["report activity"])
    a("report logins", "--tenant", "acme", "--format", "json", expect=ex["report logins"])
    a("subject find", "--tenant", "acme", "--user", "alice", expect=ex["subject find"])
    a("subject export", "--tenant", "acme", "--user", "alice", "--out",
      str(tmp_path / "alice.zip"), expect=ex["subject export"])
    a("subject erase", "--tenant", "acme", "--user", "alice", "--yes",
      expect=ex["subject erase"])
    a("audit checkpoint", "--yes", expect=ex["audit checkpoint"])
    a("alert rule set", "failed_logins_account", "threshold=5", "--tenant", "acme",
      expect=ex["alert rule set"])
    a("breach report", "--tenant", "acme", "--since", "2026-01-01", "--until", "2100-01-01",
      "--accounts", "alice", expect=ex["breach report"])
    a("breach record", "--tenant", "acme", "--discovered", "2026-12-01T08:00", "--nature",
      "stolen app password", expect=ex["breach record"])
    a("tenant purge", "acme", "--yes", expect=ex["tenant purge"])
    assert a.ran == set(STATE_CHANGING), f"not exercised: {set(STATE_CHANGING) - a.ran}"


def _retention_scenario(a: Audited, local: Path) -> None:
    """retention, trash and hold commands (gateway/compliance/retention)."""
    ex = STATE_CHANGING
    a("trash enable", "--tenant", "acme", "--days", "7", expect=ex["trash enable"])
    for _ in range(2):
        a.gw.run("files", "put", "alice@acme", str(local), "/d/t.txt")
        a.gw.run("files", "rm", "alice@acme", "/d/t.txt")
    first, second = (i["id"] for i in a.gw.json("trash", "list", "--tenant", "acme"))
    a("trash purge", "--tenant", "acme", str(second), expect=ex["trash purge"])
    a("trash restore", "--tenant", "acme", str(first), expect=ex["trash restore"])
    a.gw.run("files", "rm", "alice@acme", "/d/t.txt")
    a.gw.run("trash", "purge", "--tenant", "acme", "--all")
    a("trash disable", "--tenant", "acme", expect=ex["trash disable"])
    hold = json.loads(a("hold set", "--tenant", "acme", "--path", "/d", "--reason", "case 1",
                        "--json", expect=ex["hold set"]))
    a("hold release", "--tenant", "acme", hold["id"], expect=ex["hold release"])
    a("retention set", "--tenant", "acme", "--files-days", "30", expect=ex["retention set"])
    a("retention run", "--tenant", "acme", expect=ex["retention run"])
    a("retention clear", "--tenant", "acme", expect=ex["retention clear"])
    a("storage migrate", "--tenant", "acme", "--to", "default", expect=ex["storage migrate"])


def test_admin_events_name_no_secret(audited: Audited) -> None:
    a = audited
    a("init", expect="init")
    a("tenant create", "acme", expect="tenant-create")
    out = a("user create", "alice@acme", "--generate-password", expect="user-create")
    password = out.split("password:")[1].split()[0]
    created = a("app-password create", "alice@acme", "--label", "nas", "--json",
                expect="app-password-create")
    token = json.loads(created)["secret"]
    hook = json.loads(a("webhook add", "--tenant", "acme", "--url", "https://hooks.example/in",
                        "--json", expect="webhook-add"))["secret"].removeprefix("whsec_")
    events = json.dumps(a.events_after(0), default=str)
    assert password not in events and token not in events and hook not in events
    api = json.loads(a("admin-token create", "--name", "ops", "--scope", "all", "--json",
                       expect="admin-token-create"))["secret"]
    events = json.dumps(a.events_after(0), default=str)
    assert password not in events and token not in events
    assert api.startswith("lmx_") and api[21:] not in events  # lmx_ + 16 hex id + _
