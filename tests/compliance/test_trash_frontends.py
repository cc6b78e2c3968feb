"""The trash over the real front-ends: a WebDAV DELETE (curl) and an SFTP rm (paramiko)
make the file vanish from PROPFIND, ls and stat while it still counts against quota;
``trash restore`` brings it back with the same content; a restore onto a path that is
taken again is refused with the fix; ``trash purge`` deletes for good."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from retention_helpers import served

DOC = os.urandom(3000)
SFT = os.urandom(5000)


def test_deleted_files_go_to_the_trash_and_come_back(tmp_path: Path) -> None:
    with served(tmp_path) as gw:
        env = gw.env
        env.run("trash", "enable", "--tenant", "acme", "--days", "30")
        assert gw.curl("MKCOL", "/t/")[0] == 201
        doc = tmp_path / "doc"
        doc.write_bytes(DOC)
        assert gw.curl("PUT", "/t/doc.txt", "--data-binary", f"@{doc}")[0] == 201
        client, sftp = gw.sftp()
        try:
            with sftp.open("/t/sftp.bin", "wb") as f:
                f.write(SFT)
            used = gw.usage()
            assert used == (len(DOC) + len(SFT), 2)

            assert gw.curl("DELETE", "/t/doc.txt")[0] == 204
            sftp.remove("/t/sftp.bin")
            status, listing = gw.curl("PROPFIND", "/t/", "-H", "Depth: 1")
            assert status == 207 and b"doc.txt" not in listing and b"sftp.bin" not in listing
            assert gw.curl("GET", "/t/doc.txt")[0] == 404
            assert sftp.listdir("/t") == []
            with pytest.raises(FileNotFoundError):
                sftp.stat("/t/sftp.bin")
            assert gw.usage() == used  # still counted against quota

            items = {i["path"]: i for i in env.json("trash", "list", "--tenant", "acme")}
            assert set(items) == {"/t/doc.txt", "/t/sftp.bin"}
            assert items["/t/doc.txt"]["deleted_by"] == "alice"
            for item in items.values():
                env.run("trash", "restore", "--tenant", "acme", str(item["id"]))
            assert gw.curl("GET", "/t/doc.txt") == (200, DOC)
            with sftp.open("/t/sftp.bin", "rb") as f:
                assert f.read() == SFT
            assert env.json("trash", "list", "--tenant", "acme") == []

            # a restore onto a path that is taken again is refused, naming the fix
            assert gw.curl("DELETE", "/t/doc.txt")[0] == 204
            assert gw.curl("PUT", "/t/doc.txt", "--data-binary", "new")[0] == 201
            item = env.json("trash", "list", "--tenant", "acme")[0]
            refused = env.run("trash", "restore", "--tenant", "acme", str(item["id"]), ok=False)
            assert refused.returncode != 0 and "exists again" in refused.stderr
            env.run("trash", "purge", "--tenant", "acme", str(item["id"]))
            assert env.json("trash", "list", "--tenant", "acme") == []
            assert gw.usage() == (3 + len(SFT), 2)
            assert gw.curl("GET", "/t/doc.txt") == (200, b"new")

            # a folder goes to the trash as one item, content and all, and comes back
            sftp.mkdir("/t/f")
            with sftp.open("/t/f/in.bin", "wb") as f:
                f.write(SFT)
            assert gw.curl("DELETE", "/t/f/")[0] == 204
            assert sorted(sftp.listdir("/t")) == ["doc.txt", "sftp.bin"]
            (item,) = env.json("trash", "list", "--tenant", "acme")
            assert (item["path"], item["kind"], item["bytes"]) == ("/t/f", "dir", len(SFT))
            env.run("trash", "restore", "--tenant", "acme", str(item["id"]))
            assert gw.curl("GET", "/t/f/in.bin") == (200, SFT)
        finally:
            client.close()
