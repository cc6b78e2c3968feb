"""``breach report``: the incident's accounts, addresses, sessions and files, and the fields
of a supervisory authority's notification form (GDPR Art. 33(3), EDPB guidelines 9/2022),
filled where the audit trail says, marked ``TO BE COMPLETED BY THE CONTROLLER`` where not.

Every file the selected events touched is stated as either ``read`` (content sent decrypted
through an authenticated session in the window: by whom, from where, how many bytes) or
``encrypted-at-rest-only`` (never read in the window: its content only ever existed
encrypted at rest, which matters for Art. 34(3)(a); its name and metadata may have been
seen through a listing).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.admin import get_tenant
from gateway.compliance.breach import catalogfacts
from gateway.compliance.breach.catalogfacts import iso
from gateway.compliance.breach.collect import (
    ADMIN_PROTOCOLS,
    Involvement,
    collect,
    stream_events,
    utc,
)
from gateway.compliance.breach.indicators import Indicators
from gateway.errors import ConfigError
from gateway.policy.logins import canonical_name

TBC = "TO BE COMPLETED BY THE CONTROLLER"
READ, AT_REST_ONLY = "read", "encrypted-at-rest-only"
NOTIFY_WITHIN = timedelta(hours=72)  # Art. 33(1)


def build_report(core, tenant: str, since: datetime, until: datetime,  # type: ignore[no-untyped-def]
                 indicators: Indicators, discovered: datetime | None = None,
                 now: datetime | None = None) -> dict[str, Any]:
    """The report as plain data (JSON-ready)."""
    name = canonical_name(tenant)
    if name is None:
        raise ConfigError(f"{tenant!r} is not a tenant name")
    since, until = utc(since), utc(until)
    if until <= since:
        raise ConfigError("--until must be after --since")
    t = get_tenant(core, name)
    now = now or datetime.now(UTC)
    inv = collect(core.catalog, t.name, since, until, indicators)
    catalogfacts.add_listed_files(core.catalog, t, inv)
    facts = catalogfacts.file_facts(core.catalog, t, sorted(inv.files))
    files = [f for f in (_file(use, facts[p]) for p, use in sorted(inv.files.items()))
             if f["kind"] != "dir"]
    counts = _counts(inv, files)
    return {
        "report": "personal data breach: involved accounts, addresses, sessions and files",
        "generated_at": iso(now),
        "tenant": {"name": t.name, "display_name": t.display_name},
        "window": {"since": iso(since), "until": iso(until)},
        "indicators": indicators.describe(),
        "events_scanned": inv.scanned,
        "events_involved": inv.span.events,
        "first_event": iso(inv.span.first),
        "last_event": iso(inv.span.last),
        "counts": counts,
        "actions": dict(sorted(inv.actions.items())),  # "action:result" -> events
        "accounts": _accounts(inv),
        "addresses": _addresses(inv),
        "sessions": _sessions(inv),
        "logins": [dict(x, ts=iso(x["ts"])) for x in inv.logins],
        "files": files,
        "authority_form": _form(core, t, inv, counts, discovered, until, now),
    }


def _file(use, facts: dict[str, Any]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    readers = [{"account": who, "address": addr, "protocol": proto, "reads": n,
                "bytes": nbytes, "first": iso(first), "last": iso(last)}
               for (who, addr, proto), (n, nbytes, first, last) in sorted(use.reads.items())]
    return {
        "path": use.path, "exposure": READ if readers else AT_REST_ONLY,
        "encrypted_at_rest_only": not readers,
        "read_by": readers, "bytes_read": sum(r["bytes"] for r in readers),
        "changes": dict(sorted(use.changes.items())), "refused_attempts": use.refused,
        "metadata_seen": use.metadata_seen or bool(readers) or bool(use.changes),
        "moved_to": use.moved_to, "moved_from": use.moved_from, **facts,
    }


def _counts(inv: Involvement, files: list[dict[str, Any]]) -> dict[str, int]:
    def changed(f: dict[str, Any]) -> bool:
        return any(not k.startswith("delete") for k in f["changes"])

    return {
        "accounts": len([a for a in inv.accounts if a != "-"]),
        "addresses": len([a for a in inv.addresses if a != "-"]),
        "sessions": len(inv.sessions),
        "files": len(files),
        "files_read": sum(1 for f in files if f["exposure"] == READ),
        "files_encrypted_at_rest_only": sum(1 for f in files if f["exposure"] == AT_REST_ONLY),
        "files_changed": sum(1 for f in files if changed(f)),
        "files_deleted": sum(1 for f in files if "delete" in f["changes"]),
        "bytes_read": sum(f["bytes_read"] for f in files),
        "logins_ok": sum(a.logins_ok for a in inv.accounts.values()),
        "logins_refused": sum(a.logins_refused for a in inv.accounts.values()),
    }


def _accounts(inv: Involvement) -> list[dict[str, Any]]:
    return [{"account": name, "first": iso(a.first), "last": iso(a.last), "events": a.events,
             "logins_ok": a.logins_ok, "logins_refused": a.logins_refused,
             "login_methods": sorted(a.methods), "addresses": sorted(a.addresses),
             "protocols": sorted(a.protocols), "files_read": len(a.files_read),
             "bytes_read": a.bytes_read, "changes": a.changes, "deletes": a.deletes,
             "refused_operations": a.refused, "missing_paths_probed": a.misses}
            for name, a in sorted(inv.accounts.items())]


def _addresses(inv: Involvement) -> list[dict[str, Any]]:
    return [{"address": addr, "first": iso(a.first), "last": iso(a.last), "events": a.events,
             "accounts": sorted(a.accounts), "logins_ok": a.logins_ok,
             "logins_refused": a.logins_refused, "bytes_read": a.bytes_read}
            for addr, a in sorted(inv.addresses.items())]


def _sessions(inv: Involvement) -> list[dict[str, Any]]:
    rows = sorted(inv.sessions.values(), key=lambda s: (s.first or datetime.min, s.account))
    return [{"session_id": s.session_id, "account": s.account, "protocol": s.protocol,
             "address": s.address, "first": iso(s.first), "last": iso(s.last),
             "events": s.events, "reads": s.reads, "bytes_read": s.bytes_read,
             "changes": s.changes} for s in rows]


def _measures(core, t, inv: Involvement, until: datetime, now: datetime) -> list[str]:  # type: ignore[no-untyped-def]
    """Administrative actions on the tenant since the breach began (revoked credentials,
    disabled accounts, policy changes): candidates for 'measures taken'. Those in the
    window came with the scan; those after it are read now (admin events only)."""
    if inv.span.first is not None and until < now:
        for ev in stream_events(core.catalog, t.name, until, now, protocols=ADMIN_PROTOCOLS):
            inv.admin(ev)
    return inv.admin_actions


def _form(core, t, inv: Involvement, counts: dict[str, int],  # type: ignore[no-untyped-def]
          discovered: datetime | None, until: datetime, now: datetime) -> dict[str, Any]:
    deadline = utc(discovered) + NOTIFY_WITHIN if discovered else None
    late = deadline is not None and now > deadline
    nature = {"confidentiality": counts["files_read"] > 0,
              "integrity": counts["files_changed"] > 0,
              "availability": counts["files_deleted"] > 0}
    kinds = [k for k, v in nature.items() if v] or ["none derivable from the audit trail"]
    accounts = sorted(a for a in inv.accounts if a != "-")
    return {
        "controller": t.display_name or t.name,
        "contact_point": TBC,
        "discovered_at": iso(discovered) if discovered else TBC,
        "notification_deadline": iso(deadline) if deadline else TBC,
        "notification_deadline_basis": "72 hours after discovery (GDPR Art. 33(1))",
        "reasons_for_delay": TBC if late else "not applicable" if deadline else TBC,
        "breach_started": iso(inv.span.first) or TBC,
        "breach_last_seen": iso(inv.span.last) or TBC,
        "breach_ongoing": TBC,
        "nature": nature,
        "nature_description": (
            f"{', '.join(kinds)} breach: {counts['accounts']} account(s) "
            f"({', '.join(accounts) or '-'}) used from {counts['addresses']} address(es); "
            f"{counts['files_read']} file(s) read ({counts['bytes_read']} bytes), "
            f"{counts['files_changed']} changed, {counts['files_deleted']} deleted"),
        "categories_of_data_subjects": TBC,
        "approximate_number_of_data_subjects": TBC,
        "accounts_whose_credentials_were_used": accounts,
        "categories_of_personal_data": TBC,
        "approximate_number_of_records": TBC,
        "files_involved": counts["files"],
        "files_read": counts["files_read"],
        "files_changed": counts["files_changed"],
        "files_deleted": counts["files_deleted"],
        "likely_consequences": TBC,
        "measures_taken": TBC,
        "administrative_actions_since_breach_began": _measures(core, t, inv, until, now),
        "measures_proposed": TBC,
        "data_subjects_informed": TBC,
        "encryption_art_34_3_a": (
            f"{counts['files_encrypted_at_rest_only']} file(s) were only ever encrypted at "
            f"rest in the window ({catalogfacts.CIPHER}); {counts['files_read']} file(s) were "
            "read decrypted through an authenticated session, so encryption at rest does not "
            "make them unintelligible to the reader"),
        "other_authorities_or_cross_border": TBC,
    }
