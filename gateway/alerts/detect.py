"""The rules' tests over a batch of new audit events.

Window rules (failed logins, mass download): for each subject with new matching events,
the matching events from one window before its first new event to its last (kept
between rounds by the evaluator's ``Windows``, or read from ``audit_events``) are slid
over to find whether the threshold was reached at one of the new events (so a burst is
found wherever it lies in the batch, and whichever process stored the events). The other
rules look at single events.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import Connection, select

from gateway.alerts.model import FiredAlert
from gateway.alerts.windows import Windows
from gateway.catalog.tables import audit_events as ev_t
from gateway.timewindow import in_window

Event = dict[str, Any]
#: a denied login whose decision was "credential expired" (gateway/policy/decision.py);
#: anchored so that a label naming those words elsewhere cannot match
EXPIRED = re.compile(r"^(method=[^;]*; )?credential: expired: ")
INTEGRITY_REASONS = ("integrity", "key-unavailable")
OWN_PROTOCOL = "alerts"


class Seen(Protocol):
    """Networks an account has logged in from."""

    def known(self, tenant: str, user: str) -> set[str]: ...
    def add(self, tenant: str, user: str, network: str, at: Any) -> None: ...


@dataclass
class Scope:
    conn: Connection
    params: Callable[[str | None, str], dict[str, Any]]  # (tenant, rule) -> parameters
    seen: Seen
    #: the evaluator's windows kept between rounds, with the cursor the round started at
    #: and each rule's (highest count threshold, widest window) over the defaults and every
    #: tenant's override; without them each round reads its windows from the catalog
    windows: Windows | None = None
    cursor: dict[str, int] = field(default_factory=dict)
    reach: Callable[[str], tuple[int, timedelta]] | None = None


@functools.lru_cache(maxsize=4096)  # a round sees the same few addresses again and again
def network_of(addr: str | None) -> str | None:
    """The /24 (IPv4) or /48 (IPv6) network of an address; None if it is not an IP."""
    if not addr:
        return None
    try:
        ip = ipaddress.ip_address(addr.split("%")[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def _account(e: Event) -> str:
    return f"{e['user']}@{e['tenant']}"


# --- window rules ---------------------------------------------------------------------------
def _slide(rows: list[tuple[Any, int]], new: list[Event], window: timedelta,
           threshold: int, max_bytes: int | None) -> tuple[Event, int, int] | None:
    """The first new event at which the window ending there reached the threshold (count,
    or bytes): (event, files, bytes), or None. ``rows`` are (ts, bytes) in time order."""
    first = new[0]["ts"]
    start, total = 0, 0
    for end, (ts, nbytes) in enumerate(rows):
        total += nbytes
        while rows[start][0] <= ts - window:
            total -= rows[start][1]
            start += 1
        count = end - start + 1
        if ts >= first and (count >= threshold or (max_bytes and total >= max_bytes)):
            return next((e for e in new if e["ts"] >= ts), new[-1]), count, total
    return None


Hit = tuple[Event, int, int]  # the new event where the threshold was reached, files, bytes


def _bursts(scope: Scope, rule: str, groups: dict[tuple, list[Event]],
            keys: tuple[str, ...], where: dict[str, str]
            ) -> Iterator[tuple[tuple, dict[str, Any], Hit, Callable[[Connection], Hit] | None]]:
    """For each subject (``keys`` values) with new events: whether its window reached the
    rule's threshold, with (when the window was cut short in memory) a function giving
    the exact figures from the catalog. The windows come from the evaluator's ``Windows``
    (the round's new events added to those kept), else from one query per rule and round
    over the stored events from one window before the first new event to the last."""
    params = {k: scope.params(new[0]["tenant"], rule) for k, new in groups.items()}
    live = {k: sorted(new, key=lambda e: e["ts"]) for k, new in groups.items()
            if params[k]["enabled"]}
    if not live:
        return
    widest = timedelta(seconds=max(params[k]["window_s"] for k in live))
    lo = min(new[0]["ts"] for new in live.values()) - widest
    hi = max(new[-1]["ts"] for new in live.values())
    cap = 0
    if scope.windows is not None and scope.reach is not None:
        cap, reach = scope.reach(rule)
        rows = scope.windows.advance(scope.conn, scope.cursor, rule, keys, where, groups,
                                     live, lo, hi, cap, max(reach, widest))
    else:
        rows = _stored(scope.conn, keys, where, live, lo, hi)
    for k, new in live.items():
        p = params[k]
        window, limit = timedelta(seconds=p["window_s"]), p.get("threshold") or p["max_files"]
        hit = _slide(rows.get(k, []), new, window, limit, p.get("max_bytes"))
        if hit:
            def exact(conn: Connection, k: tuple = k, new: list[Event] = new,
                      window: timedelta = window, limit: int = limit,
                      max_bytes: int | None = p.get("max_bytes"), hit: Hit = hit) -> Hit:
                stored = _stored(conn, keys, where, {k: new}, new[0]["ts"] - window, hi)
                return _slide(stored.get(k, []), new, window, limit, max_bytes) or hit

            yield k, p, hit, exact if cap and hit[1] >= cap else None


def _stored(conn: Connection, keys: tuple[str, ...], where: dict[str, str],
            live: dict[tuple, list[Event]], lo: Any, hi: Any) -> dict[tuple, list[tuple[Any, int]]]:
    """The matching stored events of the ``live`` subjects from ``lo`` to ``hi``."""
    from gateway.alerts.state import aware

    cols = [getattr(ev_t.c, k) for k in keys]
    q = select(ev_t.c.ts, ev_t.c.bytes, *cols).where(
        ev_t.c.ts >= lo, ev_t.c.ts <= hi,
        *(getattr(ev_t.c, k) == v for k, v in where.items())).order_by(ev_t.c.ts, ev_t.c.id)
    if len(live) == 1:  # one subject (an exact recount): only its events
        q = q.where(*(c == v for c, v in zip(cols, next(iter(live)), strict=True)))
    rows: dict[tuple, list[tuple[Any, int]]] = {}
    for ts, nbytes, *key in conn.execute(q):
        if tuple(key) in live:
            rows.setdefault(tuple(key), []).append((aware(ts), nbytes or 0))
    return rows


def _refinable(make: Callable[[Hit], FiredAlert], hit: Hit,
               exact: Callable[[Connection], Hit] | None) -> FiredAlert:
    """The alert for ``hit``; with ``exact``, able to recount itself from the catalog."""
    alert = make(hit)
    if exact is not None:
        alert.exact = lambda conn: make(exact(conn))
    return alert


def _grouped(events: Iterable[Event], match: Callable[[Event], bool],
             key: Callable[[Event], tuple]) -> dict[tuple, list[Event]]:
    groups: dict[tuple, list[Event]] = {}
    for e in events:
        if match(e):
            groups.setdefault(key(e), []).append(e)
    return groups


def failed_logins(scope: Scope, events: list[Event]) -> Iterator[FiredAlert]:
    def denied(e: Event) -> bool:
        return e["action"] == "login" and e["result"] == "denied"

    where = {"action": "login", "result": "denied"}
    accounts = _grouped(events, lambda e: denied(e) and bool(e["user"]) and bool(e["tenant"]),
                        lambda e: (e["tenant"], e["user"]))
    for (tenant, user), p, hit, exact in _bursts(
            scope, "failed_logins_account", accounts, ("tenant", "user"), where):
        def by_account(hit: Hit, tenant: str = tenant, user: str = user,
                       p: dict[str, Any] = p) -> FiredAlert:
            e, count, _ = hit
            return FiredAlert("failed_logins_account", tenant, _account(e), e["ts"],
                              f"{count} failed logins of one account within {p['window_s']} s",
                              {"failures": count, "window_s": p["window_s"],
                               "last_address": e["remote_addr"]},
                              user=user, remote_addr=e["remote_addr"])

        yield _refinable(by_account, hit, exact)
    addresses = _grouped(events, lambda e: denied(e) and bool(e["remote_addr"]),
                         lambda e: (e["remote_addr"],))
    for (addr,), p, hit, exact in _bursts(
            scope, "failed_logins_address", addresses, ("remote_addr",), where):
        def by_address(hit: Hit, addr: str = addr, p: dict[str, Any] = p) -> FiredAlert:
            e, count, _ = hit
            return FiredAlert("failed_logins_address", e["tenant"], addr, e["ts"],
                              f"{count} failed logins from one address within "
                              f"{p['window_s']} s",
                              {"failures": count, "window_s": p["window_s"]}, remote_addr=addr)

        yield _refinable(by_address, hit, exact)


def mass_download(scope: Scope, events: list[Event]) -> Iterator[FiredAlert]:
    reads = _grouped(events, lambda e: e["action"] == "read" and e["result"] == "ok"
                     and bool(e["user"]), lambda e: (e["tenant"], e["user"]))
    for (tenant, user), p, hit, exact in _bursts(
            scope, "mass_download", reads, ("tenant", "user"),
            {"action": "read", "result": "ok"}):
        def downloads(hit: Hit, tenant: str = tenant, user: str = user,
                      p: dict[str, Any] = p) -> FiredAlert:
            e, files, nbytes = hit
            return FiredAlert("mass_download", tenant, _account(e), e["ts"],
                              f"{files} files ({nbytes} bytes) downloaded within "
                              f"{p['window_s']} s",
                              {"files": files, "bytes": nbytes, "window_s": p["window_s"]},
                              user=user, remote_addr=e["remote_addr"])

        yield _refinable(downloads, hit, exact)


# --- single-event rules ------------------------------------------------------------------
def new_network(scope: Scope, events: list[Event]) -> Iterator[FiredAlert]:
    """Logins, and every other successful operation of an account (a WebDAV login the
    gate's credential cache answered leaves no login event, its requests do)."""
    for e in events:
        if e["result"] != "ok" or not e["user"] or not e["tenant"] or \
                e["protocol"] in ("admin", OWN_PROTOCOL):
            continue
        net = network_of(e["remote_addr"])
        if net is None:
            continue
        known = scope.seen.known(e["tenant"], e["user"])
        if net not in known:
            if known and scope.params(e["tenant"], "new_network")["enabled"]:
                yield FiredAlert("new_network", e["tenant"], f"{_account(e)} {net}", e["ts"],
                                 "access from a network never seen for this account",
                                 {"network": net, "known_networks": sorted(known)[:20],
                                  "protocol": e["protocol"], "action": e["action"]},
                                 user=e["user"], remote_addr=e["remote_addr"])
            scope.seen.add(e["tenant"], e["user"], net, e["ts"])


def single(scope: Scope, events: list[Event]) -> Iterator[FiredAlert]:
    for e in events:
        tenant, reason = e["tenant"], e["reason"] or ""
        if e["action"] == "audit-verify" and e["result"] == "error":
            rule, subject, summary = "audit_chain", f"chain {tenant or '-'}", \
                "audit chain verification failed"
        elif e["result"] == "error" and reason.split(":")[0] in INTEGRITY_REASONS:
            rule, subject, summary = "decrypt_failure", "content", \
                "stored content failed decryption or authentication"
        elif e["action"] == "login" and e["result"] == "denied" and EXPIRED.match(reason):
            rule, subject, summary = "expired_credential", _account(e), \
                "an expired credential was tried"
        elif e["protocol"] == "admin" and e["result"] == "ok" and \
                not in_window(e["ts"], scope.params(tenant, "admin_outside_window")["window"]):
            rule, subject, summary = "admin_outside_window", e["user"] or "admin", \
                f"admin action {e['action']} outside the maintenance window"
        else:
            continue
        if scope.params(tenant, rule)["enabled"]:
            yield FiredAlert(rule, tenant, subject, e["ts"], summary,
                             {"action": e["action"], "reason": reason, "path": e["path"],
                              "protocol": e["protocol"]},
                             user=e["user"], remote_addr=e["remote_addr"])


DETECTORS = (failed_logins, mass_download, new_network, single)


def detect(scope: Scope, events: list[Event]) -> list[FiredAlert]:
    """Every alert the rules raise for these new events (the evaluator's own excluded)."""
    events = [e for e in events if e["protocol"] != OWN_PROTOCOL]
    return [a for d in DETECTORS for a in d(scope, events)]
