"""Legal holds over the real front-ends and the admin deleters: WebDAV DELETE, MOVE away or
over a held file, PUT over it, and a folder DELETE answer 403; SFTP rm and rename fail
with permission denied; retention and trash purge leave held files; every refusal is
audited with the hold and its reason; ``hold release`` lifts it all."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from retention_helpers import core_of, days_from_now, events, served

from gateway import admin
from gateway.compliance.retention.holds import LegalHold, check_not_held

REASON = "subpoena 2026-42"


def test_hold_blocks_every_deleter_until_released(tmp_path: Path) -> None:
    with served(tmp_path) as gw:
        env = gw.env
        for folder in ("/case/", "/free/"):
            assert gw.curl("MKCOL", folder)[0] == 201
        for path in ("/case/a.txt", "/case/b.txt", "/free/c.txt", "/free/d.txt"):
            assert gw.curl("PUT", path, "--data-binary", path)[0] == 201
        hold = env.json("hold", "set", "--tenant", "acme", "--path", "/case",
                        "--reason", REASON)
        assert [h["id"] for h in env.json("hold", "list")] == [hold["id"]]
        dest = f"https://127.0.0.1:{gw.dav_port}"

        assert gw.curl("DELETE", "/case/a.txt")[0] == 403
        assert gw.curl("DELETE", "/CASE/")[0] == 403  # the tenant is case-insensitive
        assert gw.curl("MOVE", "/case/a.txt", "-H", f"Destination: {dest}/free/a.txt")[0] == 403
        assert gw.curl("MOVE", "/free/c.txt", "-H", f"Destination: {dest}/case/b.txt",
                       "-H", "Overwrite: T")[0] == 403
        assert gw.curl("PUT", "/case/b.txt", "--data-binary", "overwritten")[0] == 403
        client, sftp = gw.sftp()
        try:
            with pytest.raises(PermissionError):
                sftp.remove("/case/b.txt")
            with pytest.raises(OSError) as moved:
                sftp.rename("/case/b.txt", "/free/b.txt")
            assert moved.value.errno in (errno.EACCES, None) or "ermission" in str(moved.value)
        finally:
            client.close()
        assert gw.curl("GET", "/case/b.txt") == (200, b"/case/b.txt")
        assert gw.curl("GET", "/free/c.txt") == (200, b"/free/c.txt")

        refusals = [e for e in events(env, "delete") if e["result"] == "denied"]
        assert len(refusals) >= 3  # WebDAV file, WebDAV folder, SFTP rm
        assert all(hold["id"] in e["reason"] and REASON in e["reason"] and
                   e["reason"].startswith("legal-hold") for e in refusals)
        assert any(e["result"] == "denied" and "legal-hold" in (e["reason"] or "")
                   for e in events(env, "move"))

        # retention keeps held files; the trash purge keeps a held item
        env.run("trash", "enable", "--tenant", "acme", "--days", "30")
        assert gw.curl("DELETE", "/free/d.txt")[0] == 204  # to the trash
        env.run("hold", "set", "--tenant", "acme", "--path", "/free/d.txt", "--reason", REASON)
        env.run("retention", "set", "--tenant", "acme", "--files-days", "1")
        report = env.json("retention", "run", "--now", days_from_now(40))
        t = report["tenants"][0]
        assert t["files_deleted"] == 1 and t["held"] == 2 and t["trash_held"] == 1
        assert gw.curl("GET", "/free/c.txt")[0] == 404
        assert gw.curl("GET", "/case/a.txt")[0] == 200
        purge = env.json("trash", "purge", "--tenant", "acme", "--all")
        assert purge["held"] == 1 and purge["items"] == 0
        assert any(e["result"] == "denied" for e in events(env, "trash-purge"))
        with core_of(env) as core:  # the function other deleters (subject erasure) call
            tid = admin.get_tenant(core, "acme").id
            with pytest.raises(LegalHold, match=hold["id"]):
                check_not_held(core.catalog, tid, ["/Case/a.txt"])
            with pytest.raises(LegalHold):
                check_not_held(core.catalog, tid, ["/"])  # a folder holding held files
            check_not_held(core.catalog, tid, ["/free/c.txt", "/other"])

        purge = env.run("tenant", "purge", "acme", "--yes", ok=False)  # erasure of it all
        assert purge.returncode != 0 and "legal hold" in purge.stderr
        assert [e["result"] for e in events(env, "tenant-purge")] == ["denied"]
        assert gw.curl("GET", "/case/a.txt")[0] == 200

        for h in env.json("hold", "list", "--tenant", "acme"):
            env.run("hold", "release", "--tenant", "acme", h["id"])
        assert events(env, "hold-release")
        assert gw.curl("DELETE", "/case/a.txt")[0] == 204
        assert env.json("trash", "purge", "--tenant", "acme", "--all")["items"] == 2
        env.run("retention", "run", "--now", days_from_now(40))
        assert gw.curl("GET", "/case/b.txt")[0] == 404
