"""Every route of the registry, called over HTTPS against the running gateway with the
results checked against the catalog (and the CLI's view of it), plus the error shapes:
bad JSON, oversized bodies, unknown fields, pagination cursors."""

from __future__ import annotations

import json
import subprocess
import sys

import pyotp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from gateway.admin_api.routes import build_registry
from tests.admin_api.conftest import Api, env_for


def _key_line() -> str:
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    return public.public_bytes(serialization.Encoding.OpenSSH,
                               serialization.PublicFormat.OpenSSH).decode() + " ci@host"


def cli(api: Api, *args: str) -> dict:  # type: ignore[type-arg]
    out = subprocess.run([sys.executable, "-m", "gateway", *args, "--json"],
                         env=env_for(api.config), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


class Walk:
    """Calls routes and remembers which (method, route) pairs were exercised."""

    def __init__(self, api: Api) -> None:
        self.api, self.seen = api, set()  # type: ignore[var-annotated]

    def __call__(self, method: str, route: str, expect: int, token: str = "all",  # noqa: S107
                 **kw: object):  # type: ignore[no-untyped-def]
        path = route
        for name, value in kw.pop("path", {}).items():  # type: ignore[attr-defined]
            path = path.replace("{" + name + "}", value)
        r = self.api.call(method, path, token, **kw)  # type: ignore[arg-type]
        assert r.status_code == expect, f"{method} {path}: {r.status_code} {r.text}"
        self.seen.add((method, route))
        return r


def test_every_route_does_what_the_cli_does(api: Api) -> None:
    w = Walk(api)
    T, U = "/v1/tenants/{tenant}", "/v1/tenants/{tenant}/users/{user}"
    d = {"tenant": "delta"}
    du = {"tenant": "delta", "user": "dan"}
    assert w("GET", "/healthz", 200, token=None).text == "ok\n"
    assert w("GET", "/readyz", 200, token=None).json() == {"status": "ready"}
    assert "/v1/tenants" in w("GET", "/openapi.json", 200).json()["paths"]
    # the running serve's counters: the API's own audited calls are counted under "api"
    scraped = w("GET", "/metrics", 200, token="read")
    assert scraped.headers["Content-Type"].startswith("text/plain")
    assert 'protocol="api"' in scraped.text and "lumanox_operations_total" in scraped.text
    w("GET", "/metrics", 403, token="acme-read")  # the numbers cover every tenant
    # tenants
    made = w("POST", "/v1/tenants", 201, json={"name": "delta", "quota_bytes": "1G",
                                                 "protocols": ["webdav", "sftp"]}).json()
    assert made["quota_bytes"] == 1024 ** 3 and made["protocols"] == ["sftp", "webdav"]
    w("POST", "/v1/tenants", 409, json={"name": "delta"})
    assert "delta" in [t["name"] for t in w("GET", "/v1/tenants", 200).json()["items"]]
    assert w("GET", T, 200, path=d).json()["policy"]["identity"] == "local"
    w("PATCH", T, 200, path=d, json={"display_name": "Delta Ltd", "quota_files": 1000})
    assert cli(api, "tenant", "show", "delta")["display_name"] == "Delta Ltd"
    w("PUT", f"{T}/quota", 200, path=d, json={"quota_bytes": -1})
    assert w("GET", f"{T}/quota", 200, path=d).json()["tenant"]["quota_bytes"] is None
    # users
    made = w("POST", f"{T}/users", 201, path=d,
             json={"name": "Dan", "generate_password": True, "quota_files": 5}).json()
    assert made["user"]["name"] == "dan" and len(made["password"]) >= 12
    assert [u["name"] for u in w("GET", f"{T}/users", 200, path=d).json()["items"]] == ["dan"]
    assert w("GET", U, 200, path=du).json()["quota_files"] == 5
    w("PATCH", U, 200, path=du, json={"kind": "machine"})
    assert cli(api, "user", "show", "dan@delta")["kind"] == "machine"
    w("PUT", f"{U}/quota", 200, path=du, json={"quota_bytes": "10M"})
    assert cli(api, "user", "show", "dan@delta")["quota_bytes"] == 10 * 1024 ** 2
    w("POST", f"{U}/disable", 200, path=du)
    assert cli(api, "user", "show", "dan@delta")["disabled"] is True
    w("POST", f"{U}/enable", 200, path=du)
    w("PUT", f"{U}/password", 422, path=du, json={"password": "short"})
    w("PUT", f"{U}/password", 200, path=du, json={"password": "a-long-enough-passphrase-9"})
    # SSH keys
    key = w("POST", f"{U}/ssh-keys", 201, path=du, json={"key": _key_line()}).json()
    assert cli(api, "key", "list", "dan@delta")[0]["fingerprint"] == key["fingerprint"]
    assert len(w("GET", f"{U}/ssh-keys", 200, path=du).json()["items"]) == 1
    w("DELETE", f"{U}/ssh-keys/{{key_id}}", 200, path={**du, "key_id": key["id"]})
    assert cli(api, "key", "list", "dan@delta") == []
    # app passwords (a machine account needs no TOTP)
    ap = w("POST", f"{U}/app-passwords", 201, path=du, json={"label": "nas"}).json()
    assert ap["secret"].startswith("lxa_")
    assert [a["label"] for a in w("GET", f"{U}/app-passwords", 200, path=du).json()["items"]] \
        == ["nas"]
    w("DELETE", f"{U}/app-passwords/{{ident}}", 200, path={**du, "ident": "nas"})
    assert cli(api, "app-password", "list", "dan@delta")[0]["revoked_at"] is not None
    # policy
    assert w("GET", f"{T}/policy", 200, path=d).json()["identity"] == "local"
    steps = w("POST", f"{T}/policy/explain", 200, path=d, json={
        "user": "dan", "protocol": "sftp", "source": "127.0.0.1", "method": "password"}).json()
    assert steps["steps"] and steps["text"]
    # locks
    with api.core() as core, core.catalog.write() as conn:
        from gateway import admin
        from gateway.catalog import locks as lock_store

        lock_store.create(conn, admin.get_tenant(core, "delta").id, "tok-api", {
            "root": "/d", "depth": "infinity", "scope": "exclusive", "owner": b"x",
            "principal": "dan@delta", "timeout": None})
    locks = w("GET", "/v1/locks", 200, params={"tenant": "delta"}).json()["items"]
    assert [lk["token"] for lk in locks] == ["tok-api"]
    w("DELETE", "/v1/locks/{token}", 200, path={"token": "tok-api"})
    w("DELETE", "/v1/locks/{token}", 404, path={"token": "tok-api"})
    # audit
    events = w("GET", "/v1/audit/events", 200, params={"tenant": "delta", "limit": 500}
               ).json()["items"]
    assert {"tenant-create", "user-create", "ssh-key-add", "lock-break"} <= {
        e["action"] for e in events}
    assert w("GET", "/v1/audit/verify", 200).json()["intact"] is True
    # deleting
    w("DELETE", U, 200, path=du)
    w("DELETE", T, 422, path=d)  # no confirmation
    assert w("DELETE", T, 200, path=d, params={"confirm": "purge"}).json()["tenant"] == "delta"
    w("GET", T, 404, path=d)
    # a new tenant of the same name gets its own audit chain, the API's events too
    assert api.call("POST", "/v1/tenants", json={"name": "delta"}).status_code == 201
    assert api.call("GET", "/v1/tenants/delta/users").json()["items"] == []
    with api.core() as core:
        new_id = admin.get_tenant(core, "delta").id
    calls = api.events_until(lambda es: any(  # the purged tenant's calls are there too
        "users 200" in (e["reason"] or "") and e["chain"] == new_id for e in es),
        action="api-call", tenant="delta")
    listed = [e for e in calls if e["reason"] == "GET /v1/tenants/{tenant}/users 200"]
    assert listed and listed[-1]["chain"] == new_id
    every = {(r.method, r.path) for r in build_registry().routes} - {  # their own walk
        (r.method, r.path) for r in build_registry(COMPLIANCE_MODULES).routes}
    assert w.seen == every, f"not exercised: {every - w.seen}"


#: routes exercised by tests/admin_api/test_compliance_routes.py's walk
COMPLIANCE_MODULES = tuple(f"gateway.admin_api.r_{m}" for m in (
    "reports", "subject", "retention", "breach", "alerts", "notify"))


def test_app_password_needs_a_totp_code_when_the_user_has_totp(api: Api) -> None:
    base = "/v1/tenants/acme/users/bob"
    secret = cli(api, "totp", "enroll", "bob@acme")["secret"]
    cli(api, "totp", "confirm", "bob@acme", pyotp.TOTP(secret).now())
    r = api.call("POST", f"{base}/app-passwords", json={"label": "phone"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "totp_code_required"
    r = api.call("POST", f"{base}/app-passwords", json={"label": "phone", "code": "000000"})
    assert r.status_code == 400 and "TOTP code is wrong" in r.json()["error"]["message"]
    cli(api, "totp", "disable", "bob@acme")


def test_errors_are_json_naming_the_fix(api: Api) -> None:
    r = api.call("POST", "/v1/tenants/acme/users", data=b"{not json",
                 headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_json"
    r = api.call("POST", "/v1/tenants/acme/users", json={"name": 7})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_field"
    r = api.call("POST", "/v1/tenants/acme/users", json={"name": "x y"})
    assert r.status_code == 422 and "user name" in r.json()["error"]["message"]
    big = json.dumps({"name": "big", "password": "p" * 70000}).encode()
    r = api.call("POST", "/v1/tenants/acme/users", data=big,
                 headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    r = api.call("PUT", "/v1/tenants")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    assert api.call("GET", "/v1/nothing").json()["error"]["code"] == "not_found"
    r = api.call("GET", "/v1/tenants", params={"cursor": "garbage"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_cursor"


def test_pagination_walks_every_item_once(api: Api) -> None:
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.call("GET", "/v1/audit/events", params=params).json()
        assert len(page["items"]) <= 2
        seen += [(e["tenant"], e["seq"]) for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None or len(seen) >= 40:
            break
    assert len(seen) == len(set(seen)) >= 3
    users = api.call("GET", "/v1/tenants/acme/users", params={"limit": 1}).json()
    assert len(users["items"]) == 1 and users["next_cursor"]
    second = api.call("GET", "/v1/tenants/acme/users",
                      params={"limit": 1, "cursor": users["next_cursor"]}).json()
    assert second["items"][0]["name"] != users["items"][0]["name"]
