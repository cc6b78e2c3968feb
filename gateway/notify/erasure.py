"""GDPR erasure in the notification outbox: deliveries whose payload names the person's
account or one of their files are removed with their attempts (pending ones are not sent
any more: the files they announce are gone). Called by ``subject erase``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from gateway.catalog.tables import notify_outbox

if TYPE_CHECKING:
    from gateway.catalog import Catalog


def _names(payload: dict[str, Any]) -> tuple[str | None, str | None]:
    """(account, path) a payload is about: a file event's, or an alert's subject."""
    data = payload.get("alert") or payload.get("data") or payload
    return (payload.get("account") or data.get("subject")), payload.get("path")


def erase_mentions(catalog: Catalog, tenant_id: str, account: str | None,
                   about_path: Callable[[str | None], bool]) -> int:
    """Delete ``tenant_id``'s outbox entries about ``account`` (USER@TENANT) or a path for
    which ``about_path`` holds; the number deleted."""
    with catalog.write() as conn:
        doomed = []
        for oid, raw in conn.execute(select(notify_outbox.c.id, notify_outbox.c.payload)
                                     .where(notify_outbox.c.tenant_id == tenant_id)):
            who, path = _names(json.loads(raw))
            if (account is not None and who == account) or about_path(path):
                doomed.append(oid)
        for i in range(0, len(doomed), 500):
            conn.execute(delete(notify_outbox).where(notify_outbox.c.id.in_(doomed[i:i + 500])))
    return len(doomed)
