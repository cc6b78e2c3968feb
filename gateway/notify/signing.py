"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

The receiver checks ``webhook-signature`` = ``v1,<base64 HMAC-SHA256 of
"{webhook-id}.{webhook-timestamp}." + body>`` under the endpoint's secret
(``whsec_<base64 key>``), and rejects old timestamps; ``webhook-id`` stays the same across
retries of one message, so the receiver can drop duplicates (delivery is at-least-once).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"
HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"
KEY_BYTES = 32


def new_secret() -> str:
    """A fresh endpoint secret, ``whsec_`` + base64 of 32 random bytes."""
    return PREFIX + base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def _key(secret: str) -> bytes:
    raw = secret[len(PREFIX):] if secret.startswith(PREFIX) else secret
    return base64.b64decode(raw)


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value for one message."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    mac = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three signature headers of a webhook request."""
    return {HEADER_ID: msg_id, HEADER_TIMESTAMP: str(timestamp),
            HEADER_SIGNATURE: sign(secret, msg_id, timestamp, body)}


def verify(secret: str, msg_id: str, timestamp: int, body: bytes, signature: str) -> bool:
    """True when one of the space-separated ``v1,`` signatures matches."""
    expected = sign(secret, msg_id, timestamp, body)
    return any(hmac.compare_digest(expected, s) for s in signature.split())
