"""Protocol matrix: table-driven checks of the ONE decision function, plus exhaustive
invariants over protocols x methods x 2FA x networks x kinds x credential sets."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from gateway.policy.decision import (
    F_APP,
    F_KEY,
    F_PASSWORD,
    F_TOTP,
    Factor,
    Facts,
    TenantFacts,
    UserFacts,
    Verdict,
    decide,
    needs_totp,
)
from gateway.policy.model import TenantPolicy, UserPolicy, default_methods

NOW = datetime(2026, 11, 28, 18, 0, tzinfo=UTC)
IN, OUT = "203.0.113.7", "192.0.2.1"
PW = Factor(F_PASSWORD, "password")
KEY = Factor(F_KEY, "publickey")
KPW = Factor(F_PASSWORD, "keyboard-interactive")
TOTP = Factor(F_TOTP, "keyboard-interactive")
APP = Factor(F_APP, "app-password")


def facts(protocol: str = "sftp", addr: str = IN, *, protocols=("webdav", "sftp", "scp"),  # type: ignore[no-untyped-def]
          methods=None, second="off", grace=None, tnets=(), kind="human", unets=(),
          enrolled=False, umethods=None, uprotocols=None, disabled=False, expired=False,
          tdisabled=False, banned=None) -> Facts:
    tp = TenantPolicy(methods={**default_methods(), **(methods or {})}, second_factor=second,
                      grace_until=grace, networks=list(tnets))
    up = UserPolicy(protocols=list(uprotocols) if uprotocols else None, methods=umethods,
                    networks=list(unets))
    t = TenantFacts("t1", "acme", tdisabled, tuple(protocols), tp)
    u = UserFacts("u1", "alice", kind, disabled,
                  NOW - timedelta(days=1) if expired else None, up, enrolled)
    return Facts(protocol, addr, t, u, NOW, banned)


GRACE = (NOW + timedelta(days=2)).isoformat()
PAST = (NOW - timedelta(days=2)).isoformat()
A, C, D = Verdict.ALLOW, Verdict.CONTINUE, Verdict.DENY

# (id, facts kwargs, factors, verdict, reason substring or next methods)
CASES = [
    ("sftp-pw-no2fa", {}, (PW,), A, "sufficient"),
    ("sftp-key-no2fa", {}, (KEY,), A, "sufficient"),
    ("sftp-kbd-no2fa", {}, (KPW,), A, "sufficient"),
    ("scp-key", {"protocol": "scp"}, (KEY,), A, "sufficient"),
    ("scp-not-allowed", {"protocol": "scp", "protocols": ("webdav", "sftp")}, (KEY,), D,
     "protocol: scp not allowed"),
    ("sftp-not-allowed", {"protocols": ("webdav",)}, (), D, "protocol: sftp not allowed"),
    ("sftp-pw-method-off", {"methods": {"sftp": ["publickey"]}}, (PW,), D,
     "method: password not allowed"),
    ("sftp-user-narrowed", {"umethods": {"sftp": ["publickey"]}}, (KPW,), D,
     "method: keyboard-interactive not allowed"),
    ("user-protocols", {"uprotocols": ("webdav",)}, (KEY,), D, "user-protocol"),
    ("2fa-key-only", {"second": "required", "enrolled": True}, (KEY,), C,
     ("keyboard-interactive",)),
    ("2fa-key-totp", {"second": "required", "enrolled": True}, (KEY, TOTP), A, "sufficient"),
    ("2fa-kbd-pw-totp", {"second": "required", "enrolled": True}, (KPW, TOTP), A,
     "sufficient"),
    ("2fa-password-method", {"second": "required", "enrolled": True}, (PW,), D,
     "plain password method is never accepted"),
    ("2fa-password-method-then-totp", {"second": "required", "enrolled": True}, (PW, TOTP), D,
     "plain password method is never accepted"),
    ("2fa-key-then-password", {"second": "required", "enrolled": True}, (KEY, PW), D,
     "plain password method is never accepted"),
    ("2fa-code-alone", {"second": "required", "enrolled": True}, (TOTP,), C,
     ("publickey", "keyboard-interactive")),
    ("2fa-start", {"second": "required", "enrolled": True}, (), C,
     ("publickey", "keyboard-interactive")),
    ("2fa-no-kbdint", {"second": "required", "enrolled": True,
                       "methods": {"sftp": ["publickey", "password"]}}, (KEY,), D,
     "TOTP needs keyboard-interactive"),
    ("user-opted-in-totp", {"enrolled": True}, (KEY,), C, ("keyboard-interactive",)),
    ("grace-unenrolled-pw", {"second": "required", "grace": GRACE}, (PW,), A, "sufficient"),
    ("grace-over-unenrolled", {"second": "required", "grace": PAST}, (PW,), D,
     "never accepted"),
    ("grace-over-start", {"second": "required", "grace": PAST}, (), C,
     ("publickey", "keyboard-interactive")),
    ("user-requires-2fa", {"enrolled": True, "second": "off"}, (PW,), D, "never accepted"),
    ("tenant-net-in", {"tnets": ("203.0.113.0/24",)}, (KEY,), A, "sufficient"),
    ("tenant-net-out", {"tnets": ("203.0.113.0/24",), "addr": OUT}, (KEY,), D,
     "tenant-network"),
    ("tenant-net-v6", {"tnets": ("2001:db8::/32",), "addr": "2001:db8::1"}, (KEY,), A,
     "sufficient"),
    ("tenant-net-v4-mapped", {"tnets": ("203.0.113.0/24",), "addr": "::ffff:203.0.113.7"},
     (KEY,), A, "sufficient"),
    ("user-net-out", {"unets": ("198.51.100.0/24",)}, (KEY,), D, "user-network"),
    ("key-net-out", {}, (Factor(F_KEY, "publickey", ("198.51.100.0/24",)),), D,
     "credential-network"),
    ("key-expired", {}, (Factor(F_KEY, "publickey", (), NOW - timedelta(seconds=1)),), D,
     "expired"),
    ("machine-no-nets", {"kind": "machine"}, (KEY,), D, "machine account without a network"),
    ("machine-key", {"kind": "machine", "unets": ("203.0.113.0/24",)}, (KEY,), A,
     "sufficient"),
    ("machine-pw", {"kind": "machine", "unets": ("203.0.113.0/24",)}, (PW,), D,
     "machine accounts use keys"),
    ("machine-2fa-tenant-key", {"kind": "machine", "unets": ("203.0.113.0/24",),
                                "second": "required"}, (KEY,), A, "sufficient"),
    ("sftp-app-password", {}, (APP,), D, "method: app-password not allowed"),
    ("dav-pw", {"protocol": "webdav"}, (PW,), A, "sufficient"),
    ("dav-app", {"protocol": "webdav"}, (APP,), A, "sufficient"),
    ("dav-2fa-pw", {"protocol": "webdav", "second": "required", "enrolled": True}, (PW,), D,
     "use an app password"),
    ("dav-2fa-app", {"protocol": "webdav", "second": "required", "enrolled": True}, (APP,),
     A, "sufficient"),
    ("dav-grace-pw", {"protocol": "webdav", "second": "required", "grace": GRACE}, (PW,), A,
     "sufficient"),
    ("dav-machine-pw", {"protocol": "webdav", "kind": "machine",
                        "unets": ("203.0.113.0/24",)}, (PW,), D, "machine accounts use app"),
    ("dav-machine-app", {"protocol": "webdav", "kind": "machine",
                         "unets": ("203.0.113.0/24",)}, (APP,), A, "sufficient"),
    ("dav-app-off", {"protocol": "webdav", "methods": {"webdav": ["password"]}}, (APP,), D,
     "method: app-password not allowed"),
    ("dav-app-net-out", {"protocol": "webdav"}, (Factor(F_APP, "app-password",
                                                        ("198.51.100.0/24",)),), D,
     "credential-network"),
    ("dav-not-allowed", {"protocol": "webdav", "protocols": ("sftp",)}, (APP,), D, "protocol"),
    ("disabled", {"disabled": True}, (KEY,), D, "account disabled"),
    ("expired", {"expired": True}, (KEY,), D, "account expired"),
    ("tenant-disabled", {"tdisabled": True}, (KEY,), D, "tenant disabled"),
    ("banned", {"banned": "addr:203.0.113.7"}, (KEY,), D, "defender"),
]


@pytest.mark.parametrize(("kw", "factors", "verdict", "expect"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_matrix(kw, factors, verdict, expect) -> None:  # type: ignore[no-untyped-def]
    f = facts(kw.pop("protocol", "sftp"), kw.pop("addr", IN), **kw)
    d = decide(f, factors)
    assert d.verdict is verdict, d.explain()
    if isinstance(expect, tuple):
        assert d.next_methods == expect
    else:
        assert expect in d.reason, d.explain()
    assert [r for r in d.rules if not r.passed] == ([] if verdict is not D else [d.rules[-1]])


def _all_facts():  # type: ignore[no-untyped-def]
    for proto, second, enrolled, kind, nets, grace in itertools.product(
            ("webdav", "sftp", "scp"), ("off", "required"), (False, True), ("human", "machine"),
            ((), ("203.0.113.0/24",)), (None, GRACE, PAST)):
        yield facts(proto, second=second, enrolled=enrolled, kind=kind, unets=nets,
                    tnets=nets, grace=grace)


FACTOR_SETS = [s for n in range(0, 3)
               for s in itertools.combinations((PW, KEY, KPW, TOTP, APP), n)]


def test_invariants_exhaustive() -> None:
    """No combination lets a TOTP-needing human in without TOTP over SSH or with the account
    password over WebDAV; 'password' is never offered to them; machines never get in with an
    account password or without a network list."""
    checked = 0
    for f in _all_facts():
        need = needs_totp(f)[0]
        for fs in FACTOR_SETS:
            d = decide(f, fs)
            checked += 1
            kinds = {x.kind for x in fs}
            if d.verdict is Verdict.ALLOW:
                if f.protocol != "webdav" and need:
                    assert F_TOTP in kinds and "password" not in {x.method for x in fs}
                if f.protocol == "webdav" and (need or f.user.kind == "machine"):  # type: ignore[union-attr]
                    assert kinds == {F_APP}
                if f.user.kind == "machine":  # type: ignore[union-attr]
                    assert F_PASSWORD not in kinds and f.user.policy.networks  # type: ignore[union-attr]
            if need and f.protocol != "webdav":
                assert "password" not in d.next_methods
    assert checked > 1000
