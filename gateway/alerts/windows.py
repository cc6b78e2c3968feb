"""The window rules' recent events, kept in memory between rounds by the lease holder.

Without it every round reads, per window rule, all matching stored events of one window
(a GET flood: every download of the last minute, every two seconds). ``Windows`` reads
them once (``warm``, when it starts or after anything it cannot follow: another holder
moved the cursor, a round failed, the rule overrides changed) and from then on adds only
the round's new events, so a round costs what its new events cost.

Per subject only the newest ``cap`` events are kept, ``cap`` being the rule's highest
count threshold (defaults and every tenant's override). That is exact for the rules'
test, "count >= threshold or bytes >= max_bytes within the window": while fewer than
``cap`` events lie in a window, all of them are kept; once ``cap`` do, the count has
reached the threshold. Subjects whose
newest event left the widest window (plus ``SLACK``) are forgotten, so memory is bounded
by the subjects active within a window times their caps.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from gateway.catalog.tables import audit_events as ev_t

Key = tuple[Any, ...]
Row = tuple[datetime, int]
#: how much older than the newest event seen an event may arrive (another process's
#: batch committing late) and still be judged over its whole window
SLACK = timedelta(seconds=30)


class Windows:
    """Per window rule: subject -> its newest matching events, (ts, bytes) in time order."""

    def __init__(self) -> None:
        self._rows: dict[str, dict[Key, list[Row]]] = {}
        self._newest: dict[str, datetime] = {}

    def reset(self) -> None:
        """Forget everything: the next round reads its windows from the catalog again."""
        self._rows.clear()
        self._newest.clear()

    def advance(self, conn: Connection, cursor: dict[str, int], rule: str,
                keys: tuple[str, ...], where: dict[str, str],
                groups: dict[Key, list[dict[str, Any]]], wanted: Iterable[Key],
                lo: datetime, hi: datetime, cap: int, widest: timedelta
                ) -> dict[Key, list[Row]]:
        """Add the round's new matching events (``groups``, per subject) and return the
        rows of the ``wanted`` subjects up to ``hi`` (the round's last new event). On a
        rule's first round since a reset, the stored events from ``lo`` that the cursor
        had already passed are read first."""
        if rule not in self._rows:
            self._rows[rule] = self._warm(conn, cursor, keys, where, lo, cap)
        rows = self._rows[rule]
        for key, new in groups.items():
            kept = rows.setdefault(key, [])
            for e in new:
                bisect.insort(kept, (e["ts"], e["bytes"] or 0))
        newest = max((kept[-1][0] for kept in rows.values() if kept), default=None)
        if newest is not None:
            newest = self._newest[rule] = max(newest, self._newest.get(rule, newest))
            horizon = newest - widest - SLACK
            for key in list(rows):
                kept = rows[key]
                if not kept or kept[-1][0] < horizon:
                    del rows[key]
                else:
                    _trim(kept, newest - SLACK, cap)
        end = (hi, float("inf"))
        return {k: rows[k][:bisect.bisect_right(rows[k], end)] if k in rows else []
                for k in wanted}

    def size(self, rule: str | None = None) -> int:
        """Events held, for one rule or all (for tests and the bench)."""
        return sum(len(kept) for name, rows in self._rows.items() if rule in (None, name)
                   for kept in rows.values())

    @staticmethod
    def _warm(conn: Connection, cursor: dict[str, int], keys: tuple[str, ...],
              where: dict[str, str], lo: datetime, cap: int) -> dict[Key, list[Row]]:
        from gateway.alerts.state import aware

        cols = [getattr(ev_t.c, k) for k in keys]
        q = select(ev_t.c.ts, ev_t.c.bytes, ev_t.c.chain, ev_t.c.seq, *cols).where(
            ev_t.c.ts >= lo, *(getattr(ev_t.c, k) == v for k, v in where.items()))
        rows: dict[Key, list[Row]] = {}
        for ts, nbytes, chain, seq, *key in conn.execute(q.order_by(ev_t.c.ts, ev_t.c.id)):
            if seq <= cursor.get(chain, 0):  # the newer ones arrive as new events
                rows.setdefault(tuple(key), []).append((aware(ts), nbytes or 0))  # type: ignore[arg-type]
        if rows:
            newest = max(kept[-1][0] for kept in rows.values())
            for kept in rows.values():
                _trim(kept, newest - SLACK, cap)
        return rows


def _trim(kept: list[Row], recent: datetime, cap: int) -> None:
    """Keep every event after ``recent`` and the newest ``cap`` of the others."""
    older = bisect.bisect_right(kept, (recent, float("inf")))
    del kept[:max(0, older - cap)]
