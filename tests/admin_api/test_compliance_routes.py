"""The compliance and operations routes (reports, subject requests, retention, trash,
holds, breaches, alerts, notifications) against the running gateway: every route of
their modules called, results checked against the catalog and the CLI, tenant scoping,
scope refusals, the token named in the service functions' events, and the streamed
subject export equal to the CLI's."""

from __future__ import annotations

import csv
import hashlib
import io
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from gateway.admin_api.routes import build_registry
from tests.admin_api.conftest import Api, env_for
from tests.admin_api.test_routes import COMPLIANCE_MODULES, Walk, cli

T = "/v1/tenants/{tenant}"
G = {"tenant": "kappa"}


def run(api: Api, *args: str) -> None:
    out = subprocess.run([sys.executable, "-m", "gateway", *args], env=env_for(api.config),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def _setup(api: Api, tmp: Path) -> None:
    assert api.call("POST", "/v1/tenants", json={"name": "kappa"}).status_code == 201
    assert api.call("POST", "/v1/tenants/kappa/users", json={
        "name": "gina", "password": "gina-secret-pw-42"}).status_code == 201
    src = tmp / "cv.txt"
    src.write_bytes(b"the CV of Gina Doe\n" * 500)
    run(api, "files", "mkdir", "gina@kappa", "/people/Gina Doe")
    run(api, "files", "put", "gina@kappa", str(src), "/people/Gina Doe/cv.txt")
    run(api, "trash", "enable", "--tenant", "kappa", "--days", "7")
    run(api, "files", "put", "gina@kappa", str(src), "/old.txt")
    run(api, "files", "rm", "gina@kappa", "/old.txt")


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist() if n != "manifest.json"}


def test_every_compliance_route(api: Api, tmp_path: Path) -> None:
    _setup(api, tmp_path)
    w = Walk(api)
    # reports: json totals with a page of events, csv and html as downloads
    act = w("GET", f"{T}/reports/activity", 200, path=G, params={"limit": 2}).json()
    assert act["report"] == "activity" and act["chain"]["verified"] is True
    assert len(act["events"]) == 2 and act["next_cursor"]
    seen, cursor, until = [], None, datetime.now(UTC).isoformat()
    while True:  # the API's own calls are events too: a fixed period
        page = api.call("GET", "/v1/tenants/kappa/reports/activity", params={
            "limit": 3, "verify": "false", "until": until,
            **({"cursor": cursor} if cursor else {})}).json()
        seen += [(e["ts"], e["seq"]) for e in page["events"]]
        assert page["chain"]["checked"] is False  # verify=false: not checked
        if not (cursor := page["next_cursor"]):
            break
    assert len(seen) == len(set(seen)) == page["summary"]["events"]
    got = w("GET", f"{T}/reports/activity", 200, path=G,
            params={"format": "csv", "until": until})
    assert got.headers["Content-Disposition"].startswith("attachment")
    rows = list(csv.DictReader(io.StringIO(got.text)))
    assert len(rows) == len(seen) and {"write", "delete"} <= {r["action"] for r in rows}
    html = w("GET", f"{T}/reports/activity", 200, path=G, params={"format": "html"})
    assert html.headers["Content-Type"].startswith("text/html") and "</html>" in html.text
    logins = w("GET", f"{T}/reports/logins", 200, path=G).json()
    assert logins["report"] == "logins" and logins["logins"] == []
    assert w("GET", f"{T}/reports/logins", 200, path=G, params={"format": "csv"}
             ).text.startswith("ts,user,result")
    assert "</html>" in w("GET", f"{T}/reports/logins", 200, path=G,
                          params={"format": "html"}).text
    # data-subject requests
    found = w("GET", f"{T}/subject", 200, path=G, token="reports",
              params={"name_pattern": "*gina doe*"}).json()
    assert [f["path"] for f in found["files"]] == ["/people/Gina Doe/cv.txt"]
    export = w("POST", f"{T}/subject/export", 200, path=G, token="users",
               json={"user": "gina"})
    assert export.headers["Content-Type"] == "application/zip"
    assert hashlib.sha256(export.content).hexdigest() == export.headers["X-Content-SHA256"]
    run(api, "subject", "export", "--tenant", "kappa", "--user", "gina", "--out",
        str(tmp_path / "cli.zip"))
    mine, theirs = _members(export.content), _members((tmp_path / "cli.zip").read_bytes())
    assert mine.keys() == theirs.keys() and any(n.startswith("files/") for n in mine)
    for name in mine:  # the CLI's lists one event more: the API's export
        assert mine[name] == theirs[name] or name.startswith("events."), name
    assert not list(api.config.parent.glob("var/tmp/subject-*"))  # the temporary is gone
    # retention rules and runs
    rule = w("PUT", f"{T}/retention", 200, path=G, token="tenants",
             json={"path": "/people", "files_days": 30}).json()
    assert rule["path"] == "/people" and rule["files_days"] == 30
    assert [r["path"] for r in cli(api, "retention", "show", "--tenant", "kappa")] == ["/people"]
    assert w("GET", f"{T}/retention", 200, path=G).json()["items"][0]["files_days"] == 30
    ran = w("POST", f"{T}/retention/run", 200, path=G, json={"dry_run": True}).json()
    assert ran["tenants"][0]["tenant"] == "kappa"
    w("DELETE", f"{T}/retention", 200, path=G, params={"path": "/people"})
    assert cli(api, "retention", "show", "--tenant", "kappa") == []
    # trash
    items = w("GET", f"{T}/trash", 200, path=G).json()["items"]
    assert [i["path"] for i in items] == ["/old.txt"]
    w("POST", f"{T}/trash/{{item}}/restore", 200, path={**G, "item": str(items[0]["id"])})
    assert cli(api, "trash", "list", "--tenant", "kappa") == []
    w("POST", f"{T}/trash/purge", 422, path=G, json={})
    assert w("POST", f"{T}/trash/purge", 200, path=G, json={"all": True}).json()["items"] == 0
    # legal holds: an erasure under one is refused with 409 naming the hold
    hold = w("POST", f"{T}/holds", 201, path=G, json={"path": "/people", "reason": "case 7"}
             ).json()
    assert [h["id"] for h in w("GET", f"{T}/holds", 200, path=G).json()["items"]] == [hold["id"]]
    w("POST", f"{T}/subject/erase", 422, path=G, json={"user": "gina"})
    r = w("POST", f"{T}/subject/erase", 409, path=G, token="users",
          json={"user": "gina", "confirm": "erase"})
    assert r.json()["error"]["code"] == "legal_hold" and hold["id"] in r.text
    w("DELETE", f"{T}/holds/{{hold}}", 200, path={**G, "hold": hold["id"]})
    dry = api.call("POST", "/v1/tenants/kappa/subject/erase",
                   json={"user": "gina", "dry_run": True}).json()
    assert dry["dry_run"] is True and cli(api, "user", "show", "gina@kappa")["name"] == "gina"
    # breaches
    rep = w("GET", f"{T}/breach-report", 200, path=G, token="reports",
            params={"since": "2020-01-01", "accounts": "gina"}).json()
    assert rep["tenant"]["name"] == "kappa" and rep["counts"]["accounts"] == 1
    assert "</html>" in w("GET", f"{T}/breach-report", 200, path=G, params={
        "since": "2020-01-01", "accounts": "gina", "format": "html"}).text
    b = w("POST", f"{T}/breaches", 201, path=G, token="reports", json={
        "discovered": "2026-11-28T13:00", "nature": "laptop stolen", "report": rep}).json()
    assert cli(api, "breach", "show", str(b["id"]))["nature"] == "laptop stolen"
    assert b["id"] in [x["id"] for x in w("GET", "/v1/breaches", 200).json()["items"]]
    shown = w("GET", "/v1/breaches/{breach}", 200, path={"breach": str(b["id"])}).json()
    assert shown["report"]["counts"] == rep["counts"]
    # alerts
    assert w("GET", "/v1/alerts", 200, params={"tenant": "kappa"}).json()["items"] == []
    names = [r["rule"] for r in w("GET", "/v1/alert-rules", 200).json()["items"]]
    assert names
    set_ = w("PUT", f"{T}/alert-rules/{{rule}}", 200, path={**G, "rule": names[0]},
             token="tenants", json={"values": {"enabled": False}}).json()
    assert set_["params"]["enabled"] is False
    # notifications
    hook = w("POST", f"{T}/webhooks", 201, path=G, token="tenants",
             json={"url": "https://hooks.example/in", "events": ["file.uploaded"]}).json()
    assert hook["secret"] and hook["tenant"] == "kappa"
    listed = w("GET", "/v1/webhooks", 200, params={"tenant": "kappa"}).json()["items"]
    assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]
    op = w("POST", "/v1/webhooks", 201, json={"url": "https://ops.example/alerts"}).json()
    assert op["tenant"] is None
    w("POST", "/v1/webhooks", 403, token="acme-all", json={"url": "https://x.example/"})
    er = w("POST", f"{T}/event-rules", 201, path=G, json={
        "path": "/people", "on": ["upload"], "webhook": hook["id"]}).json()
    assert [x["id"] for x in w("GET", "/v1/event-rules", 200, params={"tenant": "kappa"}
                               ).json()["items"]] == [er["id"]]
    assert w("GET", "/v1/deliveries", 200, params={"tenant": "kappa"}).json()["items"] == []
    w("DELETE", "/v1/event-rules/{rule}", 404, token="acme-all", path={"rule": er["id"]})
    w("DELETE", "/v1/event-rules/{rule}", 200, path={"rule": er["id"]})
    w("DELETE", "/v1/webhooks/{webhook}", 404, token="acme-all", path={"webhook": op["id"]})
    for h in (hook, op):
        w("DELETE", "/v1/webhooks/{webhook}", 200, path={"webhook": h["id"]})
    assert cli(api, "webhook", "list") == []
    # the erasure itself, last (it deletes the account and the files)
    gone = w("POST", f"{T}/subject/erase", 200, path=G, token="users",
             json={"user": "gina", "confirm": "erase"}).json()
    assert gone["dry_run"] is False and gone["counts"]["files"] >= 1
    assert cli(api, "user", "list", "kappa") == []
    # the service functions' own events name the token that called
    acted = api.events_until(lambda es: {"retention-set", "hold-set", "breach-record",
                                         "webhook-add"} <= {e["action"] for e in es},
                             tenant="kappa")
    by = {e["action"]: e for e in acted if e["protocol"] == "api"}
    assert by["retention-set"]["user"] == "token:t-tenants"
    assert by["breach-record"]["user"] == "token:t-reports"
    assert by["subject-export"]["user"] == "token:t-users"
    # reads of personal data are audited as the token too (never "admin")
    assert all(by[a]["user"].startswith("token:t-")
               for a in ("report-activity", "report-logins", "subject-find"))
    assert {"hold-set", "trash-restore", "webhook-add", "breach-report"} <= set(by)
    refused = [e for e in acted if e["action"] == "subject-erase" and e["result"] == "denied"]
    assert refused and refused[0]["user"] == "token:t-users"
    assert hold["id"] in refused[0]["reason"]
    every = {(r.method, r.path) for r in build_registry(COMPLIANCE_MODULES).routes}
    assert every <= w.seen, f"not exercised: {every - w.seen}"


def test_tenant_tokens_and_scopes_are_enforced(api: Api) -> None:
    for path in ("/v1/tenants/beta/reports/activity", "/v1/tenants/beta/subject?user=zoe",
                 "/v1/tenants/beta/retention", "/v1/tenants/beta/trash",
                 "/v1/tenants/beta/holds"):
        r = api.call("GET", path, "acme-all")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", path
    r = api.call("POST", "/v1/tenants/beta/subject/erase", "acme-all",
                 json={"user": "zoe", "confirm": "erase"})
    assert r.status_code == 404
    assert cli(api, "user", "show", "zoe@beta")["name"] == "zoe"
    for token, method, path in (("read", "GET", "/v1/tenants/acme/reports/activity"),
                                ("reports", "PUT", "/v1/tenants/acme/retention"),
                                ("tenants", "POST", "/v1/tenants/acme/subject/export"),
                                ("read", "POST", "/v1/tenants/acme/holds"),
                                ("users", "POST", "/v1/tenants/acme/breaches")):
        r = api.call(method, path, token, json={})
        assert r.status_code == 403, (token, method, path, r.text)
        assert r.json()["error"]["code"] == "insufficient_scope"
    # an object addressed by id alone: another tenant's is not found
    b = api.call("POST", "/v1/tenants/beta/breaches", "reports", json={
        "discovered": "2026-11-30T08:00", "nature": "mail sent to the wrong list"}).json()
    assert api.call("GET", f"/v1/breaches/{b['id']}", "acme-all").status_code == 404
    assert api.call("GET", f"/v1/breaches/{b['id']}", "read").status_code == 403
    assert api.call("GET", f"/v1/breaches/{b['id']}", "all").status_code == 200
    assert b["id"] not in [x["id"] for x in api.call("GET", "/v1/breaches", "acme-all"
                                                     ).json()["items"]]
    # listings of every tenant are cut to the token's tenant
    assert api.call("GET", "/v1/webhooks", "acme-read", params={"tenant": "beta"}
                    ).status_code == 404
    assert api.call("GET", "/v1/alerts", "acme-read").status_code == 200
