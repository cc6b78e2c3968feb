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
#: a window rule's alert for (subject key, parameters, hit)
Build = Callable[[tuple, dict[str, Any], Hit], FiredAlert]


def _bursts(scope: Scope, rule: str, groups: dict[tuple, list[Event]],
            keys: tuple[str, ...], where: dict[str, str], build: Build) -> Iterator[FiredAlert]:
    """For each subject (``keys`` values) with new events whose window reached the rule's
    threshold: its alert (``build``), able to recount its figures from the catalog
    (``FiredAlert.exact``) when the window was cut short in memory. The windows come from
    the evaluator's ``Windows`` (the round's new events added to those kept), else from
    one query per rule and round over the stored events from one window before the first
    new event to the last."""
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
        hit = _slide_params(rows.get(k, []), new, params[k])
        if hit:
            alert = build(k, params[k], hit)
            if cap and hit[1] >= cap:  # the kept window may be cut
                alert.exact = functools.partial(_recounted, build, keys, where, k, params[k],
                                                new, hi, hit)
            yield alert


def _slide_params(rows: list[tuple[Any, int]], new: list[Event],
                  p: dict[str, Any]) -> Hit | None:
    """``_slide`` with a window rule's parameters."""
    return _slide(rows, new, timedelta(seconds=p["window_s"]),
                  p.get("threshold") or p["max_files"], p.get("max_bytes"))


def _recounted(build: Build, keys: tuple[str, ...], where: dict[str, str], k: tuple,
               p: dict[str, Any], new: list[Event], hi: Any, hit: Hit,
               conn: Connection) -> FiredAlert:
    """The alert of ``hit`` with its figures counted over the stored window."""
    stored = _stored(conn, keys, where, {k: new}, new[0]["ts"] - timedelta(
        seconds=p["window_s"]), hi)
    return build(k, p, _slide_params(stored.get(k, []), new, p) or hit)


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


def _grouped(events: Iterable[Event], match: Callable[[Event], bool],
             key: Callable[[Event], tuple]) -> dict[tuple, list[Event]]:
    groups: dict[tuple, list[Event]] = {}
    for e in events:
        if match(e):
            groups.setdefault(key(e), []).append(e)
    return groups


def _account_failures(key: tuple, p: dict[str, Any], hit: Hit) -> FiredAlert:
    (tenant, user), (e, count, _) = key, hit
    return FiredAlert("failed_logins_account", tenant, _account(e), e["ts"],
                      f"{count} failed logins of one account within {p['window_s']} s",
                      {"failures": count, "window_s": p["window_s"],
                       "last_address": e["remote_addr"]},
                      user=user, remote_addr=e["remote_addr"])


def _address_failures(key: tuple, p: dict[str, Any], hit: Hit) -> FiredAlert:
    (addr,), (e, count, _) = key, hit
    return FiredAlert("failed_logins_address", e["tenant"], addr, e["ts"],
                      f"{count} failed logins from one address within {p['window_s']} s",
                      {"failures": count, "window_s": p["window_s"]}, remote_addr=addr)


def _downloads(key: tuple, p: dict[str, Any], hit: Hit) -> FiredAlert:
    (tenant, user), (e, files, nbytes) = key, hit
    return FiredAlert("mass_download", tenant, _account(e), e["ts"],
                      f"{files} files ({nbytes} bytes) downloaded within {p['window_s']} s",
                      {"files": files, "bytes": nbytes, "window_s": p["window_s"]},
                      user=user, remote_addr=e["remote_addr"])


def failed_logins(scope: Scope, events: list[Event]) -> Iterator[FiredAlert]:
    def denied(e: Event) -> bool:
        return e["action"] == "login" and e["result"] == "denied"

    where = {"action": "login", "result": "denied"}
    accounts = _grouped(events, lambda e: denied(e) and bool(e["user"]) and bool(e["tenant"]),
                        lambda e: (e["tenant"], e["user"]))
    yield from _bursts(scope, "failed_logins_account", accounts, ("tenant", "user"), where,
                       _account_failures)
    addresses = _grouped(events, lambda e: denied(e) and bool(e["remote_addr"]),
                         lambda e: (e["remote_addr"],))
    yield from _bursts(scope, "failed_logins_address", addresses, ("remote_addr",), where,
                       _address_failures)


def mass_download(scope: Scope, events: list[Event]) -> Iterator[FiredAlert]:
    reads = _grouped(events, lambda e: e["action"] == "read" and e["result"] == "ok"
                     and bool(e["user"]), lambda e: (e["tenant"], e["user"]))
    yield from _bursts(scope, "mass_download", reads, ("tenant", "user"),
                       {"action": "read", "result": "ok"}, _downloads)


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
