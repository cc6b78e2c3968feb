"""Data-subject requests (``subject find|export|erase``, gateway/compliance/subject).

The export ZIP is written by the same ``export_subject`` to a private temporary file in
the gateway's ``tmp`` folder, which is unlinked as soon as it is opened: the client gets
it streamed from the open file (memory: one read buffer), and the space is freed when the
answer is sent or the client goes away. ``X-Content-SHA256`` carries its digest.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

from gateway.admin_api.calls import ApiError, Call
from gateway.admin_api.routes import BOOL, STR, Param, Registry, Reply, obj

SUBJECT = "/v1/tenants/{tenant}/subject"
WHO = {"user": STR, "name_pattern": STR, "text_in_names": STR}
CHUNK = 1 << 16


def _criteria(call: Call, source: dict[str, Any]):  # type: ignore[no-untyped-def]
    from gateway.compliance.subject import Criteria

    values = {}
    for name in WHO:
        value = source.get(name)
        if value is not None and not isinstance(value, str):
            raise ApiError(422, "invalid_field", f"{name!r} must be a string")
        values[name] = value
    return Criteria(call.tenant(), **values)


def _digest(f: Any) -> str:
    h = hashlib.sha256()
    while chunk := f.read(CHUNK):
        h.update(chunk)
    f.seek(0)
    return h.hexdigest()


def register(api: Registry) -> None:
    @api.route("GET", SUBJECT, scope="reports",
               query=(Param("user", "the person's account (name without @TENANT)"),
                      Param("name_pattern", "a glob over file and folder names, e.g. *Doe*"),
                      Param("text_in_names", "a text in names of the person's files"),
                      Param("limit", "list at most this many events", "integer")),
               summary="What the gateway holds about a person: account, files, events")
    def find(call: Call) -> Any:
        from gateway.compliance.subject import find as find_subject

        return find_subject(call.core, _criteria(call, call.query),
                            event_limit=call.int_arg("limit"))

    @api.route("POST", f"{SUBJECT}/export", scope="users", body=obj(**WHO),
               content=("application/zip",),
               summary="One ZIP of the person's files (decrypted), account, events, manifest")
    def export(call: Call) -> Reply:
        from gateway.compliance.subject import export_subject

        criteria = _criteria(call, call.body)
        tmp = Path(tempfile.mkdtemp(prefix="subject-", dir=call.core.config.tmp_dir))
        out = tmp / "export.zip"
        try:
            result = export_subject(call.core, criteria, out)
            f = open(out, "rb")  # noqa: SIM115 - closed by the server once sent
        finally:
            out.unlink(missing_ok=True)
            os.rmdir(tmp)
        digest = _digest(f)
        name = f"subject-{criteria.tenant}.zip"
        return Reply(stream=f, length=result.archive_bytes, content_type="application/zip",
                     headers={"Content-Disposition": f'attachment; filename="{name}"',
                              "X-Content-SHA256": digest,
                              "X-Export-Counts": f"files={result.files}; "
                                                 f"events={result.events}"})

    @api.route("POST", f"{SUBJECT}/erase", scope="users",
               body=obj(**WHO, dry_run=BOOL, confirm=STR),
               summary="Erase the person's files, account and identifiers in the audit "
                       "trail (dry_run lists; else confirm=erase); 409 under a legal hold")
    def erase(call: Call) -> Any:
        from gateway.compliance.subject import erase_request

        dry_run = call.field("dry_run", bool, False)
        if not dry_run and call.field("confirm", str) != "erase":
            raise ApiError(422, "confirmation_required", "an erasure is final: check with "
                           '"dry_run": true, then send "confirm": "erase"')
        return erase_request(call.core, _criteria(call, call.body), dry_run=dry_run)


