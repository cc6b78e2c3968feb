"""Webhook signatures are Standard Webhooks: the reference library verifies them."""

from __future__ import annotations

import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from gateway.notify import signing


def test_a_signature_verifies_with_the_standard_webhooks_library() -> None:
    secret = signing.new_secret()
    assert secret.startswith("whsec_")
    body = b'{"type": "file.uploaded", "data": {"path": "/drop/a.csv"}}'
    headers = signing.headers(secret, "msg_1", int(time.time()), body)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert Webhook(secret).verify(body, headers)["data"]["path"] == "/drop/a.csv"


def test_a_changed_body_or_another_secret_is_refused() -> None:
    secret, body = signing.new_secret(), b'{"a": 1}'
    headers = signing.headers(secret, "msg_2", int(time.time()), body)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(b'{"a": 2}', headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(body, headers)
    assert signing.verify(secret, "msg_2", int(headers["webhook-timestamp"]), body,
                          headers["webhook-signature"])
