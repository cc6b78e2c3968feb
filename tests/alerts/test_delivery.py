"""Fired alerts leave the running gateway through the notification outbox: a real webhook
receiver gets the alert's JSON signed per Standard Webhooks (checked with the
``standardwebhooks`` library) and a real SMTP server (aiosmtpd, STARTTLS verified against
the test CA, login required) gets a readable e-mail - once per alert, not per failure."""

from __future__ import annotations

import json
import subprocess
import time
from email import message_from_bytes
from pathlib import Path

from localnet import free_port
from security.conftest import prepare_gateway
from sftp.conftest import need
from standardwebhooks.webhooks import Webhook

from alerts.harness import POLICY, PW, AlertGateway
from gateway import admin
from gateway.core import Core
from gateway.notify.webhooks import add_endpoint
from tests.notify.hooks import HookListener
from tests.notify.smtpd import MailServer, make_ca_and_server_cert

SMTP_PASSWORD = "smtp-Alert-7-kettle"


def test_an_alert_arrives_signed_at_the_webhook_and_as_mail(tmp_path: Path) -> None:
    ca, cert, key = make_ca_and_server_cert(tmp_path)
    mail = MailServer("gateway", SMTP_PASSWORD).start(cert, key)
    hook = HookListener().start()
    (tmp_path / "smtp.pw").write_text(SMTP_PASSWORD)
    made: dict[str, str] = {}

    def setup(core: Core) -> None:
        admin.create_tenant(core, "acme")
        admin.create_user(core, "acme", "wd", password=PW)
        new = add_endpoint(core, None, hook.url, ["security.alert"])
        made.update(id=new.endpoint.id, secret=new.secret)
        down = add_endpoint(core, None, f"http://127.0.0.1:{free_port()}/hook")  # nobody
        made["down"] = down.endpoint.id

    extra = ('[alerts]\ninterval_ms = 200\nsinks = ["log", "webhook:ENDPOINT", '
             '"webhook:DOWN", "mail:soc@example.com"]\n[notify]\npoll_interval_ms = 200\n'
             'retry_base_ms = 100\nretry_max_ms = 200\nmax_attempts = 3\n'
             f'[notify.smtp]\nhost = "127.0.0.1"\nport = {mail.port}\nca_file = "{ca}"\n'
             f'user = "gateway"\npassword_file = "{tmp_path / "smtp.pw"}"\n'
             'from_address = "gateway@example.com"\ntimeout_s = 10\n')
    gw = prepare_gateway(tmp_path / "gw", setup, policy_extra=POLICY, extra=extra)
    gw.config_path.write_text(gw.config_path.read_text().replace(
        "ENDPOINT", made["id"]).replace("DOWN", made["down"]))
    gw.start()
    agw = AlertGateway(gw)
    try:
        agw.settle()
        argv = [need("curl"), "-k", "-sS", "-u", "wd@acme:wrong", "-w", "%{http_code}\\n"]
        for _ in range(15):  # past the account threshold (10), under the address one (20)
            argv += ["-o", "/dev/null", gw.url + "/"]
        codes = subprocess.run(argv, capture_output=True, text=True, timeout=120).stdout
        assert codes.split() == ["401"] * 15
        agw.wait_alert("failed_logins_account", "wd@acme")

        got = hook.wait_for(1)
        assert len(got) == 1
        body = Webhook(made["secret"]).verify(got[0].body, got[0].headers)
        assert body["type"] == "security.alert"
        body = body["data"]
        assert (body["rule"], body["subject"], body["tenant"]) == \
            ("failed_logins_account", "wd@acme", "acme")

        deadline = time.monotonic() + 60
        while not mail.messages and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(mail.messages) == 1 and mail.messages[0].tls
        assert mail.messages[0].rcpt_tos == ["soc@example.com"]
        msg = message_from_bytes(mail.messages[0].content)
        assert "failed_logins_account" in msg["Subject"] and "wd@acme" in msg["Subject"]
        assert "wd@acme" in msg.get_payload(decode=True).decode()

        time.sleep(1)  # more evaluator and dispatcher rounds: nothing more is sent
        assert len(hook.requests) == 1 and len(mail.messages) == 1
        # what the outbox made of each sink: delivered, and retried then dead-lettered
        deadline = time.monotonic() + 60
        while True:
            listed = json.loads(agw.cli("alert", "list", "--json").stdout)
            state = listed[0]["delivery"]
            if state[f"webhook:{made['down']}"].startswith("dead") or \
                    time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert [a["rule"] for a in listed] == ["failed_logins_account"]
        assert state[f"webhook:{made['id']}"] == "delivered"
        assert state["mail:soc@example.com"] == "delivered"
        assert state[f"webhook:{made['down']}"].startswith("dead after 3 attempts")
        assert state["log"] == "sent"
        assert SMTP_PASSWORD not in gw.output()
    finally:
        agw.close()
        hook.stop()
        mail.stop()
