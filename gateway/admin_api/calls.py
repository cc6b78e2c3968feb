"""One API call as the handlers see it (``Call``), the errors they raise (``ApiError``),
how gateway errors become HTTP statuses, and pagination.

Errors are always ``{"error": {"code": "stable_code", "message": "... naming the fix"}}``.
A tenant-scoped token asking about another tenant gets the same 404 as for a tenant that
does not exist (nothing leaks); ``Call.tenant`` does that check for every handler.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.admin_api.tokens import Token
from gateway.core import Core
from gateway.errors import (
    AlreadyExists,
    AuthenticationFailed,
    ConfigError,
    Conflict,
    GatewayError,
    InvalidName,
    LegalHold,
    NotFound,
    PermissionDenied,
)

MAX_LIMIT = 500
DEFAULT_LIMIT = 100


class ApiError(Exception):
    """An error answer: HTTP status, stable code, one-line message naming the fix."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found: list what exists first (GET the "
                    "collection)")


def from_gateway_error(exc: Exception) -> ApiError:
    """The HTTP answer for an error a service function raised."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, NotFound):
        return ApiError(404, "not_found", text)
    if isinstance(exc, AlreadyExists):
        return ApiError(409, "already_exists", text)
    if isinstance(exc, Conflict):
        return ApiError(409, "conflict", text)
    if isinstance(exc, LegalHold):
        return ApiError(409, "legal_hold", text)
    if isinstance(exc, PermissionDenied | AuthenticationFailed):
        return ApiError(403, "forbidden", text)
    if isinstance(exc, ConfigError | InvalidName | ValueError):
        return ApiError(422, "invalid", text)
    if isinstance(exc, GatewayError):
        return ApiError(400, "refused", text)
    return ApiError(500, "internal", "unexpected error: see the gateway's log")


@dataclass
class Call:
    """A request: the core, the caller's token, parameters and the parsed JSON body."""

    core: Core
    token: Token
    params: dict[str, str]
    query: dict[str, str]
    body: dict[str, Any]
    remote_addr: str
    #: the tenant the call is about (set by ``tenant``), for its audit event
    tenant_name: str | None = field(default=None)

    def tenant(self, name: str | None = None) -> str:
        """The tenant named in the path, checked against a tenant-scoped token (404 for
        another tenant: the same answer as for one that does not exist)."""
        name = name if name is not None else self.params["tenant"]
        if self.token.tenant is not None and name != self.token.tenant:
            raise ApiError(404, "not_found", f"no tenant {name!r}: see GET /v1/tenants")
        self.tenant_name = name
        return name

    def allowed_tenant_filter(self, asked: str | None) -> str | None:
        """A tenant filter for a listing: a tenant-scoped token sees only its own."""
        if asked is not None:
            return self.tenant(asked)
        if self.token.tenant is not None:
            self.tenant_name = self.token.tenant
        return self.token.tenant

    def arg(self, name: str, default: Any = None) -> Any:
        return self.query.get(name, default)

    def int_arg(self, name: str, default: int | None = None) -> int | None:
        value = self.query.get(name)
        if value is None:
            return default
        try:
            return int(value)
        except ValueError:
            raise ApiError(400, "bad_parameter", f"{name}={value!r}: expected an integer"
                           ) from None

    def field(self, name: str, kind: type | tuple[type, ...], default: Any = None,
              *, required: bool = False) -> Any:
        """A body field of the expected JSON type (422 otherwise)."""
        if name not in self.body or self.body[name] is None:
            if required:
                raise ApiError(422, "missing_field", f"the body needs {name!r}")
            return default
        value = self.body[name]
        if (isinstance(value, bool) and kind is int) or not isinstance(value, kind):
            raise ApiError(422, "invalid_field", f"{name!r} has the wrong type: see "
                           "/openapi.json for this request's schema")
        return value


def page(call: Call, items: list[Any]) -> dict[str, Any]:
    """``{"items": [...], "next_cursor": str|None}`` over a list in a stable order."""
    limit = call.int_arg("limit", DEFAULT_LIMIT) or DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(400, "bad_parameter", f"limit must be 1 to {MAX_LIMIT}")
    start = decode_cursor(call.arg("cursor"), "o") if call.arg("cursor") else 0
    chunk = items[start:start + limit]
    more = start + limit < len(items)
    return {"items": chunk, "next_cursor": encode_cursor("o", start + limit) if more else None}


def encode_cursor(kind: str, value: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({kind: value}).encode()).decode().rstrip("=")


def decode_cursor(text: str, kind: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        value = data[kind]
        if not isinstance(value, int) or value < 0:
            raise ValueError
        return value
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise ApiError(400, "bad_cursor", "the cursor is not one this API gave out: start "
                       "again without `cursor`") from None


_DURATION = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


def when(name: str, text: str | None) -> datetime | None:
    """An expiry or time filter: an ISO date/time (naive = UTC) or a duration from now
    (``90d``, ``12h``); 422 naming the field otherwise."""
    if text is None:
        return None
    m = _DURATION.match(text.strip().lower())
    if m:
        return datetime.now(UTC) + timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(422, "invalid_field", f"{name}={text!r}: write a date (2027-01-31), "
                       "a date and time, or a duration (90d)") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
