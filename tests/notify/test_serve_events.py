"""End to end: a real ``serve`` (SFTP front-end, its notification job), a real SFTP client
(paramiko), a real HTTP receiver. An upload into a ruled folder produces exactly one signed
delivery; an upload elsewhere none; a receiver that is down gets its retries, then a dead
letter that ``event list`` shows; no webhook secret reaches the logs or the audit stream."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from cli_runner import CliEnv
from localnet import free_port
from standardwebhooks.webhooks import Webhook

from gateway import admin
from gateway.config import load_config
from gateway.core import Core
from tests.notify.hooks import HookListener

PW = "Correct-Horse-7-battery"
NOTIFY = ("[notify]\npoll_interval_ms = 100\nretry_base_ms = 100\nretry_max_ms = 200\n"
          "max_attempts = 3\n")


@dataclass
class Served:
    gw: CliEnv
    port: int
    proc: subprocess.Popen[str]

    def sftp(self, work) -> None:  # type: ignore[no-untyped-def]
        """Run ``work(sftp_client)`` in one real SFTP session (paramiko)."""
        import paramiko

        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507 - test server
        client.connect("127.0.0.1", self.port, username="partner@acme", password=PW,
                       allow_agent=False, look_for_keys=False, timeout=20)
        try:
            sftp = client.open_sftp()
            work(sftp)
            sftp.close()
        finally:
            client.close()

    def upload(self, path: str, data: bytes) -> None:
        self.sftp(lambda sftp: sftp.putfo(io.BytesIO(data), path))

    def outbox(self, *args: str) -> list[dict]:
        return self.gw.json("event", "list", *args)

    def wait_outbox(self, pred, timeout: float = 60) -> list[dict]:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            items = self.outbox()
            if pred(items):
                return items
            time.sleep(0.2)
        raise AssertionError(f"outbox never matched: {self.outbox()}")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("notify-serve")
    port = free_port()
    gw = CliEnv(base, sftp_extra=f"port = {port}\nworkers = 1\n",
                extra=f"[webdav]\nenabled = false\n{NOTIFY}")
    gw.config.write_text(gw.config.read_text().replace('log = "off"', 'log = "audit.jsonl"'))
    gw.run("init")
    gw.run("tenant", "create", "acme")
    with Core.open(load_config(gw.config)) as core:
        admin.create_user(core, "acme", "partner", password=PW)
        session = core.session(admin.principal_for(core, "acme", "partner"), "test", "-")
        for folder in ("/drop", "/dead", "/out"):
            session.mkdir(folder)
    env = dict(os.environ, LUMANOX_CONFIG=str(gw.config))
    with (base / "serve.out").open("w") as out, (base / "serve.err").open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve"], cwd=base, env=env,
                                stdout=out, stderr=err, text=True, start_new_session=True)
    deadline = time.monotonic() + 90
    while "ready" not in (base / "serve.out").read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"serve did not start: {(base / 'serve.err').read_text()}")
        time.sleep(0.1)
    try:
        yield Served(gw, port, proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)


def test_an_upload_into_the_ruled_folder_is_delivered_once_and_signed(served: Served) -> None:
    hook = HookListener().start()
    try:
        gw = served.gw
        added = gw.json("webhook", "add", "--tenant", "acme", "--url", hook.url)
        gw.run("event", "rule", "add", "--tenant", "acme", "--path", "/drop", "--on",
               "upload", "--webhook", added["id"])
        served.upload("/outside.csv", b"not for the partner")
        served.upload("/drop/orders.csv", b"id,qty\n1,5\n")
        items = served.wait_outbox(lambda items: any(i["state"] == "delivered"
                                                     for i in items))
        time.sleep(0.5)  # a second (wrong) delivery would show up by now
        [got] = hook.requests
        body = Webhook(added["secret"]).verify(got.body, got.headers)
        data = body["data"]
        assert body["type"] == "file.uploaded"
        assert (data["tenant"], data["path"], data["size"]) == ("acme", "/drop/orders.csv", 11)
        assert (data["protocol"], data["account"]) == ("sftp", "partner@acme")
        assert len(data["content_hmac"]) == 64 and data["event_id"] and data["time"]
        with Core.open(load_config(gw.config)) as core:
            session = core.session(admin.principal_for(core, "acme", "partner"), "test", "-")
            assert data["content_hmac"] == session.stat("/drop/orders.csv").content_mac
        # the upload outside /drop came first and was passed over: one entry only
        assert [(i["kind"], i["state"]) for i in items] == [("file.uploaded", "delivered")]
    finally:
        hook.stop()


def test_a_receiver_that_is_down_gets_retries_then_a_dead_letter(served: Served) -> None:
    gw = served.gw
    down = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    added = gw.json("webhook", "add", "--tenant", "acme", "--url", down)
    rule = gw.json("event", "rule", "add", "--tenant", "acme", "--path", "/dead",
                   "--webhook", added["id"])
    served.upload("/dead/x.bin", b"x" * 100)
    served.wait_outbox(lambda items: any(i["state"] == "dead" for i in items))
    [dead] = served.outbox("--state", "dead", "--tenant", "acme")
    assert dead["attempts"] == 3 and dead["target"] == f"webhook:{added['id']}"
    assert "ConnectionRefusedError" in dead["last_error"]
    tries = gw.json("event", "show", str(dead["id"]))["attempts_log"]
    assert [t["ok"] for t in tries] == [False, False, False]
    assert gw.run("event", "show", str(dead["id"])).stdout.count("failed") == 3
    audited = gw.json("audit", "query", "--tenant", "acme", "--action", "notify-dead",
                      "--format", "json")
    assert any(str(dead["id"]) in (e["reason"] or "") for e in audited)
    gw.run("event", "rule", "remove", rule["id"])
    assert gw.json("event", "rule", "list", "--tenant", "acme")[0]["id"] != rule["id"]


def test_downloads_and_deletes_notify_when_the_rule_asks(served: Served) -> None:
    hook = HookListener().start()
    try:
        gw = served.gw
        added = gw.json("webhook", "add", "--tenant", "acme", "--url", hook.url)
        served.upload("/out/report.pdf", b"%PDF-1.7 quarterly")  # before the rule
        gw.run("event", "rule", "add", "--tenant", "acme", "--path", "/out", "--on",
               "download,delete", "--webhook", added["id"])

        def fetch_then_remove(sftp) -> None:  # type: ignore[no-untyped-def]
            sftp.getfo("/out/report.pdf", io.BytesIO())
            sftp.remove("/out/report.pdf")

        served.sftp(fetch_then_remove)
        got = hook.wait_for(2)
        kinds = [Webhook(added["secret"]).verify(r.body, r.headers)["type"] for r in got]
        assert sorted(kinds) == ["file.deleted", "file.downloaded"]
        assert {json.loads(r.body)["data"]["path"] for r in got} == {"/out/report.pdf"}
    finally:
        hook.stop()


def test_no_webhook_secret_reaches_the_logs_or_the_audit_stream(served: Served) -> None:
    gw = served.gw
    listed = gw.json("webhook", "list")
    assert listed and all("secret" not in e for e in listed)
    secret = gw.json("webhook", "add", "--tenant", "acme", "--url",
                     "https://hooks.example.com/x")["secret"]
    time.sleep(0.5)  # the supervisor exports the stream every 250 ms
    texts = [(gw.base / name).read_text() for name in ("serve.out", "serve.err",
                                                       "audit.jsonl")]
    key = secret.removeprefix("whsec_")
    assert "webhook-add" in texts[2]
    assert not [t for t in texts if key in t]
    tail = json.dumps(gw.json("audit", "query", "--tenant", "acme", "--format", "json"))
    assert key not in tail
