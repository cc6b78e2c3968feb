"""Admin tokens in the catalog (SQLite and PostgreSQL): the secret is shown once and
stored only as a keyed hash; expired, revoked, unknown and forged tokens are refused alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from gateway import admin
from gateway.admin_api import tokens
from gateway.catalog.tables import admin_tokens
from gateway.core import Core
from gateway.errors import AlreadyExists, ConfigError


def test_create_authenticate_revoke(core: Core) -> None:
    admin.create_tenant(core, "acme")
    token, secret = tokens.create(core, "ci", "users", tenant="acme",
                                  expires_at=datetime.now(UTC) + timedelta(days=30))
    assert secret.startswith("lmx_" + token.id + "_")
    with core.catalog.read() as conn:
        row = conn.execute(select(admin_tokens)).mappings().one()
    assert secret.split("_", 2)[2] not in str(dict(row))  # only the keyed hash is stored
    who = tokens.authenticate(core, secret)
    assert (who.name, who.scope, who.tenant, who.principal) == ("ci", "users", "acme",
                                                                 "token:ci")
    assert tokens.list_tokens(core)[0].last_used_at is not None
    tokens.revoke(core, token.id)
    with pytest.raises(tokens.TokenRefused):
        tokens.authenticate(core, secret)
    assert tokens.list_tokens(core)[0].state(datetime.now(UTC)) == "revoked"


def test_bad_tokens_are_refused_alike(core: Core) -> None:
    _token, secret = tokens.create(core, "ops", "all")
    with core.catalog.write() as conn:
        conn.execute(update(admin_tokens).values(
            expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    forged = secret[:21] + ("A" if secret[21] != "A" else "B") + secret[22:]
    for bad in (secret, forged, "lmx_ffffffffffffffff_" + "x" * 43, "", "garbage"):
        with pytest.raises(tokens.TokenRefused) as caught:
            tokens.authenticate(core, bad)
        assert str(caught.value) == "invalid token"


def test_names_scopes_and_expiry_are_checked(core: Core) -> None:
    tokens.create(core, "ops", "read")
    with pytest.raises(AlreadyExists):
        tokens.create(core, "ops", "read")
    with pytest.raises(ConfigError, match="scope"):
        tokens.create(core, "x", "root")
    with pytest.raises(ConfigError, match="past"):
        tokens.create(core, "y", "read", expires_at=datetime.now(UTC) - timedelta(days=1))
    with pytest.raises(ConfigError, match="token name"):
        tokens.create(core, "a b", "read")


def test_tokens_survive_a_master_key_rotation(core: Core) -> None:
    _token, secret = tokens.create(core, "ops", "all")
    core.keyring.rotate_master()
    assert tokens.authenticate(core, secret).name == "ops"
