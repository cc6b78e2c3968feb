"""E-mail delivery over SMTP with STARTTLS to a real server (aiosmtpd): the certificate is
verified against the configured CA file, the password comes from the environment and
appears nowhere in the outbox, its attempts or the audit log."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from email import message_from_bytes
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.catalog.tables import audit_events, notify_attempts, notify_outbox
from gateway.config import Config
from gateway.core import Core
from gateway.notify import outbox
from gateway.notify.dispatcher import Dispatcher
from tests.notify.smtpd import MailServer, make_ca_and_server_cert

PASSWORD = "smtp-Secret-9-horse"


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[tuple[MailServer, Path]]:
    ca, cert, key = make_ca_and_server_cert(tmp_path)
    server = MailServer("gateway", PASSWORD).start(cert, key)
    yield server, ca
    server.stop()


@pytest.fixture
def mail_core(tmp_path: Path, smtp: tuple[MailServer, Path], config_factory: Callable,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[Core]:
    server, ca = smtp
    config: Config = config_factory(tmp_path, f"sqlite:///{tmp_path / 'catalog.db'}")
    s = config.notify.smtp
    s.host, s.port, s.ca_file, s.user = "127.0.0.1", server.port, str(ca), "gateway"
    s.password_env, s.from_address = "TEST_SMTP_PASSWORD", "gateway@example.com"
    s.timeout_s = 10
    monkeypatch.setenv("TEST_SMTP_PASSWORD", PASSWORD)
    with Core.open(config) as core:
        yield core


def _queue(core: Core) -> int:
    oid = outbox.enqueue(core.catalog, tenant_id=None, kind="alert", target="mail:ops@example.com",
                         payload={"subject": "disk almost full", "text": "92% used on node 1"})
    assert oid is not None
    return oid


def _entry(core: Core, oid: int) -> outbox.Entry:
    return next(e for e in outbox.list_entries(core.catalog) if e.id == oid)


def test_mail_is_delivered_over_verified_starttls(mail_core: Core,
                                                  smtp: tuple[MailServer, Path]) -> None:
    server, _ = smtp
    oid = _queue(mail_core)
    assert Dispatcher(mail_core.config, mail_core).run_once() == 1
    assert _entry(mail_core, oid).state == "delivered"
    [got] = server.messages
    assert got.tls and got.rcpt_tos == ["ops@example.com"]
    msg = message_from_bytes(got.content)
    assert msg["Subject"] == "disk almost full" and msg["From"] == "gateway@example.com"
    assert "92% used" in msg.get_payload()


def test_an_unverifiable_certificate_is_not_trusted(mail_core: Core,
                                                    smtp: tuple[MailServer, Path]) -> None:
    server, _ = smtp
    mail_core.config.notify.smtp.ca_file = ""  # system CAs: the test CA is not among them
    oid = _queue(mail_core)
    Dispatcher(mail_core.config, mail_core).run_once()
    item = _entry(mail_core, oid)
    assert item.state == "pending" and item.attempts == 1  # retried later
    assert "CERTIFICATE_VERIFY_FAILED" in (item.last_error or "") or \
        "SSLCertVerificationError" in (item.last_error or "")
    assert server.messages == []


def test_the_smtp_password_is_kept_out_of_the_catalog_and_audit(
        mail_core: Core, smtp: tuple[MailServer, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    server, _ = smtp
    delivered = _queue(mail_core)
    Dispatcher(mail_core.config, mail_core).run_once()
    server.password = "another"  # the gateway's is now refused
    mail_core.config.notify.smtp.timeout_s = 2
    mail_core.config.notify.max_attempts = 1  # one failure: dead
    refused = _queue(mail_core)
    Dispatcher(mail_core.config, mail_core).run_once()
    assert _entry(mail_core, delivered).state == "delivered"
    assert _entry(mail_core, refused).state == "dead"
    mail_core.audit.flush()
    with mail_core.catalog.read() as conn:
        rows = [dict(r._mapping) for t in (notify_outbox, notify_attempts, audit_events)
                for r in conn.execute(select(t))]
    text = json.dumps(rows, default=str)
    assert "notify-dead" in text and PASSWORD not in text
