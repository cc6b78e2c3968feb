"""Webhook secrets at rest: they must be recoverable (to sign), so they are encrypted, never
hashed. A tenant's endpoint secret is sealed under the tenant key (``policy.sealing``:
purging the tenant shreds it, a key rotation keeps it readable); an endpoint of no tenant
(operator alerts) is sealed under a key derived from the audit key, which the catalog holds
only wrapped by the master key (a master rotation re-wraps it)."""

from __future__ import annotations

import base64
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gateway.core import Core
from gateway.errors import KeyUnavailable
from gateway.policy.sealing import seal_text, unseal_text

_PURPOSE = "webhook"
_GLOBAL_INFO = b"lumanox/webhook-secret/v1"
_GLOBAL_PREFIX = "g:"


def _global_key(core: Core) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=_GLOBAL_INFO).derive(core.keyring.audit_key())


def seal_secret(core: Core, tenant_id: str | None, endpoint_id: str, secret: str) -> str:
    """The stored form of an endpoint's secret (text)."""
    if tenant_id is not None:
        return seal_text(core, tenant_id, _PURPOSE, endpoint_id, secret)
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(_global_key(core)).encrypt(nonce, secret.encode(), endpoint_id.encode())
    return _GLOBAL_PREFIX + base64.b64encode(nonce + sealed).decode()


def unseal_secret(core: Core, tenant_id: str | None, endpoint_id: str, stored: str) -> str:
    if tenant_id is not None:
        return unseal_text(core, tenant_id, _PURPOSE, endpoint_id, stored)
    raw = base64.b64decode(stored.removeprefix(_GLOBAL_PREFIX))
    try:
        return AESGCM(_global_key(core)).decrypt(raw[:12], raw[12:],
                                                 endpoint_id.encode()).decode()
    except (InvalidTag, ValueError):
        raise KeyUnavailable("a webhook secret failed to open") from None
