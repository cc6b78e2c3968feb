"""Secrets at rest for the policy layer.

* ``seal``/``unseal``: small secrets (TOTP seeds, an LDAP service password) encrypted with
  AES-256-GCM under the tenant's current key, AAD binding tenant, purpose and owner. Purging
  a tenant destroys its keys and so shreds these too.
* ``server_secret``: a 32-byte HMAC key for app passwords and recovery codes, in a file
  created on first use under the data dir (mode 0600). It is not the master key; losing it
  only invalidates app passwords and recovery codes. The catalog records the secret's id:
  a node given another file (e.g. one it made itself) refuses to use it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from gateway.catalog.tables import catalog_meta
from gateway.core import Core
from gateway.errors import ConfigError, KeyUnavailable

_AAD = b"lumanox/policy-secret/v1\0"
_lock = threading.Lock()
_secrets: dict[str, bytes] = {}
#: ``catalog_meta`` key of the id of the secret the catalog's app passwords are made with
ID_META = "app_password_secret_id"


def _aad(tenant_id: str, purpose: str, owner: str) -> bytes:
    return _AAD + "\0".join((tenant_id, purpose, owner)).encode()


def seal(core: Core, tenant_id: str, purpose: str, owner: str,
         plaintext: bytes) -> tuple[int, bytes]:
    """(tenant key version, nonce + ciphertext)."""
    version = core.keyring.current_version(tenant_id)
    key = core.keyring.tenant_key(tenant_id, version)
    nonce = secrets.token_bytes(12)
    return version, nonce + AESGCM(key).encrypt(nonce, plaintext, _aad(tenant_id, purpose, owner))


def unseal(core: Core, tenant_id: str, purpose: str, owner: str, version: int,
           sealed: bytes) -> bytes:
    key = core.keyring.tenant_key(tenant_id, version)
    try:
        return AESGCM(key).decrypt(sealed[:12], sealed[12:], _aad(tenant_id, purpose, owner))
    except (InvalidTag, ValueError):
        raise KeyUnavailable("a sealed policy secret failed to open") from None


def seal_text(core: Core, tenant_id: str, purpose: str, owner: str, text: str) -> str:
    version, blob = seal(core, tenant_id, purpose, owner, text.encode())
    return f"{version}:{base64.b64encode(blob).decode()}"


def unseal_text(core: Core, tenant_id: str, purpose: str, owner: str, sealed: str) -> str:
    version, _, b64 = sealed.partition(":")
    return unseal(core, tenant_id, purpose, owner, int(version), base64.b64decode(b64)).decode()


def secret_path(core: Core) -> Path:
    pol = getattr(core.config, "policy", None)
    name = getattr(pol, "app_password_secret_file", "")
    return core.config.path(name) if name else core.config.data_dir / "app-password.key"


def server_secret(core: Core) -> bytes:
    """The HMAC key for app passwords and recovery codes (created 0600 on first use)."""
    path = secret_path(core)
    cache_key = str(path)
    hit = _secrets.get(cache_key)
    if hit is not None:
        return hit
    with _lock:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, secrets.token_bytes(32))
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp, path)  # atomic; another process may have won: keep its key
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        if path.stat().st_mode & 0o077:
            raise ConfigError(f"{path}: permissions too open; run chmod 600 on it")
        key = path.read_bytes()
        if len(key) != 32:
            raise ConfigError(f"{path}: must hold exactly 32 bytes")
        if _bind(core, key, path):
            _secrets[cache_key] = key
        return key


def _bind(core: Core, key: bytes, path: Path) -> bool:
    """Refuse a secret other than the one the catalog's app passwords were made with (a
    second node that made its own file would reject them all, silently); the first
    process to use a secret records its id in ``catalog_meta``. False: not recorded yet
    (called inside a write transaction of this thread; the next call records it)."""
    key_id = hashlib.sha256(b"lumanox/app-password-secret-id\0" + key).hexdigest()[:32]
    query = select(catalog_meta.c.value).where(catalog_meta.c.key == ID_META)
    with core.catalog.read() as conn:
        recorded = conn.execute(query).scalar()
    if recorded is None:
        try:
            with core.catalog.write() as conn:
                recorded = conn.execute(query).scalar()
                if recorded is None:
                    conn.execute(catalog_meta.insert().values(key=ID_META, value=key_id))
                    return True
        except RuntimeError:  # a write transaction inside another one (SQLite, same thread)
            return False
        except IntegrityError:  # another process recorded one at the same moment
            with core.catalog.read() as conn:
                recorded = conn.execute(query).scalar()
    if recorded != key_id:
        raise ConfigError(
            f"{path} is not the app-password secret of this catalog (id {key_id}, the "
            f"catalog's is {recorded}): every node must use a copy of the same file "
            "(policy.app_password_secret_file; docs/deployment.md, Several nodes)")
    return True


def keyed_hash(core: Core, purpose: str, value: str) -> str:
    """HMAC-SHA256 hex of a purpose-tagged value under the server secret."""
    return hmac.new(server_secret(core), f"{purpose}\0{value}".encode(), hashlib.sha256).hexdigest()
