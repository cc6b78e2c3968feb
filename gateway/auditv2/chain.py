"""Event MACs, commitments of personal fields and the seal of a v1 chain."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from datetime import UTC, datetime
from typing import Any

#: fields that may identify a person: stored beside a salted commitment, erasable (the
#: free-text reason may quote a path or a client's banner)
PERSONAL = ("user", "remote_addr", "path", "dest_path", "reason")
#: every field the MAC covers (personal ones through their commitments)
HASHED = ("chain", "seq", "tenant", "user", "protocol", "remote_addr", "session_id", "action",
          "path", "dest_path", "bytes", "sha256", "duration_ms", "result", "reason")
FORMAT_V1, FORMAT_V2 = 1, 2
SALT_BYTES = 16
GENESIS = "0" * 64


def ts_text(ts: datetime) -> str:
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    return ts.isoformat(timespec="microseconds")


def _canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def v1_hash(prev_hash: str, fields: dict[str, Any], ts: datetime) -> str:
    """The v1 (format 1) event hash: plain SHA-256 over the clear fields."""
    body = {k: fields[k] for k in HASHED}
    body["ts"] = ts_text(ts)
    return hashlib.sha256((prev_hash + _canonical(body)).encode("utf-8")).hexdigest()


def commitment(salt: str, value: str) -> str:
    """``SHA-256(salt || value)``; the salt is hex, stored beside the value until erased."""
    return hashlib.sha256(bytes.fromhex(salt) + value.encode("utf-8")).hexdigest()


def commit_personal(fields: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """(commitments, salts) of the event's present personal fields: one random salt each."""
    present = [f for f in PERSONAL if fields[f] is not None]
    if not present:
        return {}, {}
    rnd = os.urandom(SALT_BYTES * len(present)).hex()
    salts = {f: rnd[i * 2 * SALT_BYTES:(i + 1) * 2 * SALT_BYTES] for i, f in enumerate(present)}
    return {f: commitment(salts[f], str(fields[f])) for f in present}, salts


def v2_mac(key: bytes, prev_hash: str, fields: dict[str, Any], commitments: dict[str, str],
           ts: datetime) -> str:
    """The v2 event MAC: HMAC-SHA-256 under the audit key over the previous MAC and the
    event, each personal field replaced by its commitment (None when absent)."""
    body = {k: fields[k] for k in HASHED if k not in PERSONAL}
    for f in PERSONAL:
        body[f] = commitments.get(f)
    body["ts"] = ts_text(ts)
    body["format"] = FORMAT_V2
    msg = (prev_hash + _canonical(body)).encode("utf-8")
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def v1_seal(key: bytes, chain: str, seq: int, head_hash: str) -> str:
    """The MAC that seals a verified v1 chain part ending at ``seq`` with ``head_hash``."""
    msg = f"lumanox/audit-v1-seal\0{chain}\0{seq}\0{head_hash}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def v1_erasure_mac(key: bytes, row: dict[str, Any]) -> str:
    """The MAC that stands for an erased v1 event: it covers the stored link and hash (which
    the chain and the v1 seal still vouch for) and every field as left after the erasure
    (erased ones as None), so what remains cannot be changed without the audit key."""
    body = {k: row[k] for k in HASHED}
    body["ts"] = ts_text(row["ts"])
    msg = (f"lumanox/audit-v1-erased\0{row['prev_hash']}\0{row['hash']}\0"
           + _canonical(body)).encode("utf-8")
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


#: key in a v1 event's ``commitments`` once its personal fields were erased
V1_ERASED = "v1_erased"


def loads(text: str | None) -> dict[str, str]:
    return json.loads(text) if text else {}


def dumps(d: dict[str, str]) -> str | None:
    return json.dumps(d, sort_keys=True, separators=(",", ":")) if d else None
