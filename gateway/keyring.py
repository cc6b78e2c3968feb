"""Envelope keys: master key -> tenant key versions -> one data key per blob.

- The master key (32 random bytes) lives in a file outside the database (mode 0600), or a
  file named by $LUMANOX_MASTER_KEY_FILE. Its id (an HMAC of a constant, not the key)
  is stored beside every tenant key it wraps and, from the first open on, in
  ``catalog_meta``: a process given another master key refuses to start (it would list
  files and then fail every read).
- Tenant keys are versioned; each version is stored wrapped (AES-256-GCM) by the master key,
  AAD binding tenant id and version. New blobs use the newest active version.
- A blob's data key is wrapped by a tenant key version, AAD binding tenant id, blob id and
  version. The wrapped key is kept in the catalog (authoritative, re-wrapped on rotation) and
  in the blob header (for recovery).
- Rotation re-wraps, never re-encrypts content. Destroying a tenant's key versions makes all
  of its blobs unreadable (crypto-shredding).
Unwrapped keys are never logged, never put in an error message and never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import struct
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import func, select, update

from gateway.catalog import Catalog
from gateway.catalog.tables import audit_events, blobs, catalog_meta, tenant_keys
from gateway.crypto.keycache import KeyCache
from gateway.errors import ConfigError, KeyUnavailable

KEY_BYTES = 32
MASTER_KEY_META = "master_key_id"
_NONCE = 12
_TENANT_AAD = b"lumanox/tenant-key/v1"
_DATA_AAD = b"lumanox/data-key/v1"
_CONTENT_MAC_INFO = b"lumanox/content-mac/v1"
_AUDIT_AAD = b"lumanox/audit-key/v1"
AUDIT_KEY_META = "audit_key"
#: how long an unwrapped tenant key is cached in memory (destruction elsewhere takes effect
#: in this process at the latest after this many seconds)
TENANT_KEY_TTL_S = 30.0
#: unwrapped keys of each kind kept per process (least recently used dropped first; ~150
#: bytes each): a file read again skips the AES-GCM unwrap. Same time limit for all.
DATA_KEY_CACHE_ENTRIES = 4096


def master_key_id(key: bytes) -> str:
    return hmac.new(key, b"lumanox/master-key-id", hashlib.sha256).hexdigest()[:16]


def new_content_mac(key: bytes) -> hmac.HMAC:
    """A running HMAC-SHA256 over file content under a tenant's content-MAC key."""
    return hmac.new(key, digestmod=hashlib.sha256)


def _wrap(kek: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = secrets.token_bytes(_NONCE)
    return nonce + AESGCM(kek).encrypt(nonce, plaintext, aad)


def _unwrap(kek: bytes, wrapped: bytes, aad: bytes) -> bytes:
    try:
        return AESGCM(kek).decrypt(wrapped[:_NONCE], wrapped[_NONCE:], aad)
    except (InvalidTag, ValueError):
        raise KeyUnavailable("a wrapped key failed to unwrap (wrong key or altered)") from None


def _tenant_aad(tenant_id: str, version: int) -> bytes:
    return _TENANT_AAD + uuid.UUID(hex=tenant_id).bytes + struct.pack(">I", version)


def data_key_aad(tenant_id: str, blob_id: str, version: int) -> bytes:
    return (_DATA_AAD + uuid.UUID(hex=tenant_id).bytes + uuid.UUID(hex=blob_id).bytes
            + struct.pack(">I", version))


# --- master key file ---------------------------------------------------------------------
def create_master_key_file(path: Path) -> bool:
    """Create a new random master key file (0600) unless one exists. True if created."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_key_file(path, secrets.token_bytes(KEY_BYTES))
    return True


def _write_key_file(path: Path, key: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, key)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def read_master_key_file(path: Path) -> bytes:
    try:
        st = path.stat()
        key = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"master key file {path} not found: run `lumanox-gateway init` or set "
            "keys.master_key_file / LUMANOX_MASTER_KEY_FILE"
        ) from None
    except PermissionError:
        raise ConfigError(f"master key file {path}: not readable by this user") from None
    if len(key) != KEY_BYTES:
        raise ConfigError(f"master key file {path}: must hold exactly 32 bytes")
    if st.st_mode & 0o077:
        raise ConfigError(f"master key file {path}: permissions too open; run chmod 600 on it")
    return key


def bind_master_key(catalog: Catalog, key_id: str, path: Path) -> None:
    """Refuse a master key other than the catalog's; remember it on a catalog's first open."""
    with catalog.read() as conn:
        recorded = conn.execute(select(catalog_meta.c.value).where(
            catalog_meta.c.key == MASTER_KEY_META)).scalar()
    if recorded == key_id:
        return
    if recorded is None:
        with catalog.write() as conn:
            recorded = conn.execute(select(catalog_meta.c.value).where(
                catalog_meta.c.key == MASTER_KEY_META)).scalar()
            wrapped = set(conn.execute(select(tenant_keys.c.master_key_id).where(
                tenant_keys.c.wrapped_key.is_not(None)).distinct()).scalars())
            if recorded is None and wrapped <= {key_id}:  # new catalog, or made before 0005
                conn.execute(catalog_meta.insert().values(key=MASTER_KEY_META, value=key_id))
                return
            recorded = recorded or ", ".join(sorted(wrapped))
    raise ConfigError(
        f"master key file {path} (key id {key_id}) is not the master key of this catalog "
        f"(key id {recorded}): restore the right key file or point keys.master_key_file / "
        "LUMANOX_MASTER_KEY_FILE at it; refusing to start")


@dataclass(frozen=True)
class DataKey:
    key: bytes
    version: int
    wrapped: bytes


class Keyring:
    """Tenant keys and data keys, over the catalog and one master key."""

    def __init__(self, catalog: Catalog, master_key: bytes, master_key_path: Path | None = None):
        self.catalog = catalog
        self._master = master_key
        self.master_key_id = master_key_id(master_key)
        self.master_key_path = master_key_path
        self._current: dict[str, tuple[float, int]] = {}
        #: (tenant, version) -> tenant key; tenant -> content-MAC key; (tenant, blob,
        #: version, wrapped key) -> data key
        self._cache = KeyCache(DATA_KEY_CACHE_ENTRIES, TENANT_KEY_TTL_S)
        self._mac_keys = KeyCache(DATA_KEY_CACHE_ENTRIES, TENANT_KEY_TTL_S)
        self._data_keys = KeyCache(DATA_KEY_CACHE_ENTRIES, TENANT_KEY_TTL_S)
        self._lock = threading.Lock()

    @classmethod
    def open(cls, catalog: Catalog, path: Path) -> Keyring:
        """Load the master key, finishing a master rotation that committed but was cut."""
        nxt = path.with_name(path.name + ".next")
        if nxt.exists():
            new_key = read_master_key_file(nxt)
            with catalog.read() as conn:
                ids = set(conn.execute(select(tenant_keys.c.master_key_id).distinct()).scalars())
            if ids and ids <= {master_key_id(new_key)}:
                os.replace(nxt, path)  # the re-wrap committed: the new key is the key
            else:
                nxt.unlink()  # the re-wrap did not commit: keep the old key
        key = read_master_key_file(path)
        bind_master_key(catalog, master_key_id(key), path)
        return cls(catalog, key, path)

    # --- tenant keys ----------------------------------------------------------------------
    def create_tenant_key(self, conn, tenant_id: str) -> int:  # type: ignore[no-untyped-def]
        """Add a new active tenant key version inside the caller's transaction."""
        rows = conn.execute(
            select(tenant_keys.c.version).where(tenant_keys.c.tenant_id == tenant_id)
        ).scalars().all()
        version = max(rows, default=0) + 1
        key = secrets.token_bytes(KEY_BYTES)
        conn.execute(
            update(tenant_keys)
            .where(tenant_keys.c.tenant_id == tenant_id, tenant_keys.c.state == "active")
            .values(state="retired")
        )
        conn.execute(tenant_keys.insert().values(
            tenant_id=tenant_id, version=version, master_key_id=self.master_key_id,
            wrapped_key=_wrap(self._master, key, _tenant_aad(tenant_id, version)),
            state="active", created_at=datetime.now(UTC),
        ))
        self._forget(tenant_id)
        return version

    def _forget(self, tenant_id: str) -> None:
        with self._lock:
            self._current.pop(tenant_id, None)
        self._mac_keys.drop(lambda slot: slot == tenant_id)
        for cache in (self._cache, self._data_keys):
            cache.drop(lambda slot: slot[0] == tenant_id)  # type: ignore[index]

    def current_version(self, tenant_id: str) -> int:
        now = time.monotonic()
        hit = self._current.get(tenant_id)
        if hit and now - hit[0] < TENANT_KEY_TTL_S:
            return hit[1]
        with self.catalog.read() as conn:
            version = conn.execute(
                select(tenant_keys.c.version).where(
                    tenant_keys.c.tenant_id == tenant_id, tenant_keys.c.state == "active")
            ).scalar()
        if version is None:
            raise KeyUnavailable("this tenant has no active key (destroyed or never created)")
        self._current[tenant_id] = (now, version)
        return version

    def tenant_key(self, tenant_id: str, version: int) -> bytes:
        hit = self._cache.get((tenant_id, version))
        if hit is not None:
            return hit
        with self.catalog.read() as conn:
            row = conn.execute(
                select(tenant_keys.c.wrapped_key, tenant_keys.c.master_key_id).where(
                    tenant_keys.c.tenant_id == tenant_id, tenant_keys.c.version == version)
            ).first()
        if row is None or row.wrapped_key is None:
            raise KeyUnavailable(f"tenant key version {version} is destroyed or missing")
        if row.master_key_id != self.master_key_id and not self._reload_master(
                row.master_key_id):
            raise KeyUnavailable(
                "tenant key is wrapped by another master key: check keys.master_key_file")
        key = _unwrap(self._master, row.wrapped_key, _tenant_aad(tenant_id, version))
        self._cache.put((tenant_id, version), key)
        return key

    def _reload_master(self, wanted_id: str) -> bool:
        """Pick up a master key rotated by another process (same key file path)."""
        if self.master_key_path is None:
            return False
        try:
            key = read_master_key_file(self.master_key_path)
        except ConfigError:
            return False
        if master_key_id(key) != wanted_id:
            return False
        with self._lock:
            self._master, self.master_key_id = key, wanted_id
        return True

    # --- content MACs (gateway/contentmac.py) -----------------------------------------------
    def content_mac_key(self, tenant_id: str) -> bytes:
        """The tenant's key for content MACs: HKDF-SHA256 of its FIRST key version, with a
        label and the tenant id. It stays the same across rotations (a rotation re-wraps
        keys, it does not re-read content; so retired versions must be kept) and is gone
        with the tenant's keys (purge: crypto-shredding makes the MACs meaningless too)."""
        hit = self._mac_keys.get(tenant_id)
        if hit is not None:
            return hit
        with self.catalog.read() as conn:
            first = conn.execute(select(func.min(tenant_keys.c.version)).where(
                tenant_keys.c.tenant_id == tenant_id)).scalar()
        if first is None:
            raise KeyUnavailable("this tenant has no key (destroyed or never created)")
        info = _CONTENT_MAC_INFO + uuid.UUID(hex=tenant_id).bytes
        key = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None,
                   info=info).derive(self.tenant_key(tenant_id, first))
        self._mac_keys.put(tenant_id, key)
        return key

    # --- data keys ------------------------------------------------------------------------
    def new_data_key(self, tenant_id: str, blob_id: str) -> DataKey:
        version = self.current_version(tenant_id)
        kek = self.tenant_key(tenant_id, version)
        key = secrets.token_bytes(KEY_BYTES)
        return DataKey(key, version, _wrap(kek, key, data_key_aad(tenant_id, blob_id, version)))

    def unwrap_data_key(self, tenant_id: str, blob_id: str, version: int, wrapped: bytes) -> bytes:
        """The blob's data key; kept in a bounded per-process cache (see
        ``DATA_KEY_CACHE_ENTRIES``) while its tenant key would be."""
        slot = (tenant_id, blob_id, version, bytes(wrapped))
        key = self._data_keys.get(slot)
        if key is None:
            kek = self.tenant_key(tenant_id, version)
            key = _unwrap(kek, wrapped, data_key_aad(tenant_id, blob_id, version))
            self._data_keys.put(slot, key)
        return key

    # --- rotation and destruction -----------------------------------------------------------
    def rotate_tenant(self, tenant_id: str, batch: int = 500) -> tuple[int, int]:
        """New tenant key version; re-wrap every blob's data key in the catalog.

        Returns (new version, number of data keys re-wrapped). Content is not touched.
        """
        with self.catalog.write() as conn:
            version = self.create_tenant_key(conn, tenant_id)
        new_kek = self.tenant_key(tenant_id, version)
        done = 0
        while True:
            with self.catalog.write() as conn:
                rows = conn.execute(
                    select(blobs.c.id, blobs.c.key_version, blobs.c.wrapped_key)
                    .where(blobs.c.tenant_id == tenant_id, blobs.c.key_version != version)
                    .limit(batch)
                ).all()
                for row in rows:
                    key = self.unwrap_data_key(tenant_id, row.id, row.key_version, row.wrapped_key)
                    conn.execute(
                        update(blobs).where(blobs.c.id == row.id).values(
                            key_version=version,
                            wrapped_key=_wrap(new_kek, key,
                                              data_key_aad(tenant_id, row.id, version)),
                        )
                    )
            done += len(rows)
            if len(rows) < batch:
                return version, done

    def rotate_master(self) -> int:
        """Replace the master key file; re-wrap every tenant key. Returns keys re-wrapped."""
        if self.master_key_path is None:
            raise ConfigError("master key rotation needs the master key file path")
        new_key = secrets.token_bytes(KEY_BYTES)
        nxt = self.master_key_path.with_name(self.master_key_path.name + ".next")
        _write_key_file(nxt, new_key)
        new_id = master_key_id(new_key)
        count = 0
        with self.catalog.write() as conn:
            rows = conn.execute(
                select(tenant_keys).where(tenant_keys.c.wrapped_key.is_not(None))
            ).all()
            for row in rows:
                if row.master_key_id != self.master_key_id:
                    raise KeyUnavailable("a tenant key is wrapped by an unknown master key")
                aad = _tenant_aad(row.tenant_id, row.version)
                key = _unwrap(self._master, row.wrapped_key, aad)
                conn.execute(
                    update(tenant_keys)
                    .where(tenant_keys.c.tenant_id == row.tenant_id,
                           tenant_keys.c.version == row.version)
                    .values(wrapped_key=_wrap(new_key, key, aad), master_key_id=new_id)
                )
                count += 1
            conn.execute(update(tenant_keys).where(tenant_keys.c.wrapped_key.is_(None))
                         .values(master_key_id=new_id))
            self._rewrap_audit_key(conn, new_key)
            conn.execute(update(catalog_meta).where(catalog_meta.c.key == MASTER_KEY_META)
                         .values(value=new_id))
        os.replace(nxt, self.master_key_path)
        self._master, self.master_key_id = new_key, new_id
        self._cache.clear()
        self._data_keys.clear()
        return count

    def destroy_tenant_keys(self, conn, tenant_id: str) -> int:  # type: ignore[no-untyped-def]
        """Crypto-shred: erase every key version of the tenant (in the caller's transaction)."""
        result = conn.execute(
            update(tenant_keys).where(tenant_keys.c.tenant_id == tenant_id)
            .values(wrapped_key=None, state="destroyed")
        )
        self._forget(tenant_id)
        return result.rowcount

    # --- the audit key (gateway/auditv2) ------------------------------------------------------
    def audit_key(self) -> bytes:
        """The key of the audit chain HMACs and checkpoints: random, made on first use, and
        stored in the catalog only wrapped by the master key, so a database writer cannot
        use it; a master rotation re-wraps it (the chain stays verifiable)."""
        with self.catalog.read() as conn:
            wrapped = _meta(conn, AUDIT_KEY_META)
        if wrapped is None:
            with self.catalog.write() as conn:
                wrapped = _meta(conn, AUDIT_KEY_META)
                if wrapped is None and conn.execute(select(audit_events.c.id).where(
                        audit_events.c.format >= 2).limit(1)).first() is not None:
                    raise KeyUnavailable(
                        "the audit key is missing from the catalog (catalog_meta.audit_key) "
                        "although keyed audit events exist: restore the catalog from a "
                        "backup; refusing to start a new chain key")
                if wrapped is None:
                    wrapped = _wrap(self._master, secrets.token_bytes(KEY_BYTES),
                                    _AUDIT_AAD).hex()
                    conn.execute(catalog_meta.insert().values(key=AUDIT_KEY_META,
                                                              value=wrapped))
        return _unwrap(self._master, bytes.fromhex(wrapped), _AUDIT_AAD)

    def _rewrap_audit_key(self, conn, new_master: bytes) -> None:  # type: ignore[no-untyped-def]
        wrapped = _meta(conn, AUDIT_KEY_META)
        if wrapped is None:
            return
        key = _unwrap(self._master, bytes.fromhex(wrapped), _AUDIT_AAD)
        conn.execute(update(catalog_meta).where(catalog_meta.c.key == AUDIT_KEY_META)
                     .values(value=_wrap(new_master, key, _AUDIT_AAD).hex()))


def _meta(conn, key: str) -> str | None:  # type: ignore[no-untyped-def]
    return conn.execute(select(catalog_meta.c.value).where(catalog_meta.c.key == key)).scalar()
