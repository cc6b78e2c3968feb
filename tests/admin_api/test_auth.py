"""Tokens against the running API: one 401 for every bad token, scopes, tenant scoping,
and audit events that name the token (``token:<name>``, protocol ``api``)."""

from __future__ import annotations

from tests.admin_api.conftest import Api

BAD_TOKENS = {
    "unknown": "lmx_0123456789abcdef_" + "A" * 43,
    "malformed": "not-a-token",
    "wrong secret": None,  # filled in: a real id with another secret
    "expired": "expired",
    "revoked": "revoked",
}


def _shape(r) -> tuple[int, bytes, str | None, str | None]:  # type: ignore[no-untyped-def]
    return r.status_code, r.content, r.headers.get("WWW-Authenticate"), \
        r.headers.get("Content-Type")


def test_every_bad_token_gets_the_same_401(api: Api) -> None:
    real = api.tokens["all"]
    bad = dict(BAD_TOKENS, **{"wrong secret": real[:21] + "B" * 43})
    answers = {why: _shape(api.call("GET", "/v1/tenants", token))
               for why, token in bad.items()}
    answers["no header"] = _shape(api.call("GET", "/v1/tenants", None))
    answers["basic auth"] = _shape(api.call("GET", "/v1/tenants", None,
                                            headers={"Authorization": "Basic YTpi"}))
    first = next(iter(answers.values()))
    assert first[0] == 401 and b'"unauthorized"' in first[1]
    assert all(a == first for a in answers.values()), answers
    # and the refusals are audited, without a principal
    refused = [e for e in api.events_until(
        lambda es: len([e for e in es if e["result"] == "denied"]) >= len(answers),
        action="api-call") if e["result"] == "denied"]
    assert len(refused) >= len(answers) and all(e["user"] is None for e in refused)


def test_a_read_token_reads_but_cannot_create(api: Api) -> None:
    assert api.call("GET", "/v1/tenants/acme/users", "read").status_code == 200
    r = api.call("POST", "/v1/tenants/acme/users", "read", json={"name": "mallory"})
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "insufficient_scope"
    assert api.call("GET", "/v1/tenants/acme/users/mallory").status_code == 404


def test_a_users_token_manages_users_but_not_tenants(api: Api) -> None:
    r = api.call("POST", "/v1/tenants", "users", json={"name": "evil"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
    assert api.call("PATCH", "/v1/tenants/acme", "users",
                    json={"display_name": "x"}).status_code == 403
    r = api.call("POST", "/v1/tenants/acme/users", "users", json={"name": "uma"})
    assert r.status_code == 201, r.text
    assert api.call("DELETE", "/v1/tenants/acme/users/uma", "users").status_code == 200
    # audit needs the reports scope
    assert api.call("GET", "/v1/audit/events", "users").status_code == 403
    assert api.call("GET", "/v1/audit/events", "reports").status_code == 200
    assert api.call("POST", "/v1/tenants", "tenants", json={"name": "gamma"}).status_code == 201


def test_a_tenant_token_never_sees_another_tenant(api: Api) -> None:
    names = [t["name"] for t in api.call("GET", "/v1/tenants", "acme-all").json()["items"]]
    assert names == ["acme"]
    missing = api.call("GET", "/v1/tenants/no-such-tenant", "acme-all")
    for path in ("/v1/tenants/beta", "/v1/tenants/beta/users", "/v1/tenants/beta/users/zoe",
                 "/v1/tenants/beta/policy", "/v1/tenants/beta/quota",
                 "/v1/tenants/beta/users/zoe/ssh-keys"):
        r = api.call("GET", path, "acme-all")
        assert r.status_code == 404, path
        assert r.json()["error"]["code"] == missing.json()["error"]["code"] == "not_found"
    assert api.call("GET", "/v1/tenants/no-such-tenant/users/zoe", "acme-all").status_code \
        == 404
    r = api.call("POST", "/v1/tenants/beta/users/zoe/disable", "acme-all")
    assert r.status_code == 404
    assert api.call("GET", "/v1/tenants/beta/users/zoe").json()["disabled"] is False
    # listings and the audit trail are cut to the token's tenant
    assert api.call("GET", "/v1/locks", "acme-all", params={"tenant": "beta"}).status_code \
        == 404
    events = api.call("GET", "/v1/audit/events", "acme-all", params={"limit": 500}).json()
    assert events["items"] and {e["tenant"] for e in events["items"]} == {"acme"}
    assert api.call("GET", "/v1/audit/events", "acme-all",
                    params={"tenant": "beta"}).status_code == 404
    # it cannot create or purge tenants, whatever its scope
    assert api.call("POST", "/v1/tenants", "acme-all", json={"name": "x"}).status_code == 403
    assert api.call("DELETE", "/v1/tenants/acme", "acme-all",
                    params={"confirm": "purge"}).status_code == 403


def test_changes_are_audited_as_the_token(api: Api) -> None:
    r = api.call("POST", "/v1/tenants/acme/users", "acme-all", json={"name": "carl"})
    assert r.status_code == 201, r.text
    assert api.call("POST", "/v1/tenants/acme/users/carl/disable", "acme-all").status_code \
        == 200
    made = api.events(action="user-create", path="carl")  # same transaction as the change
    calls = [e for e in api.events_until(lambda es: any(
        "users/{user}/disable 200" in (e["reason"] or "") for e in es),
        action="api-call", user="token:acme-ops")
        if "POST /v1/tenants/{tenant}/users/{user}/disable 200" in (e["reason"] or "")]
    assert [(e["user"], e["protocol"], e["tenant"]) for e in made] == \
        [("token:acme-ops", "api", "acme")]
    assert made[0]["remote_addr"] == "127.0.0.1"
    disabled = api.events(action="user-set", path="carl")
    assert disabled and disabled[-1]["user"] == "token:acme-ops"
    assert calls and calls[0]["protocol"] == "api" and calls[0]["tenant"] == "acme"
    assert not [e for e in api.events(path="carl") if e["user"] == "admin"]


def test_a_cli_token_works_until_the_cli_revokes_it(api: Api) -> None:
    import json
    import subprocess
    import sys

    from tests.admin_api.conftest import env_for

    def cli(*args: str) -> str:
        out = subprocess.run([sys.executable, "-m", "gateway", "admin-token", *args],
                             env=env_for(api.config), capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout

    made = json.loads(cli("create", "--name", "ci-bot", "--scope", "users", "--tenant",
                          "acme", "--expires", "30d", "--json"))
    secret, ident = made["secret"], made["token"]["id"]
    assert api.call("GET", "/v1/tenants/acme/users", secret).status_code == 200
    listed = cli("list")
    assert "ci-bot" in listed and "acme" in listed and secret[21:] not in listed
    assert secret[21:] not in cli("list", "--json")
    cli("revoke", ident)
    r = api.call("GET", "/v1/tenants/acme/users", secret)
    assert r.status_code == 401
    assert r.content == api.call("GET", "/v1/tenants/acme/users", "unknown-token").content
    assert "revoked" in cli("list")
