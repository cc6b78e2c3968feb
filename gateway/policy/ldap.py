"""LDAP identity source (ldap3), one directory per tenant.

Login: refuse an empty password locally (an empty simple bind is an anonymous bind) →
connect to the first reachable URL (failover in order; connect and receive timeouts) with
TCP_NODELAY (TLS binds otherwise wait ~40 ms on delayed ACKs) → StartTLS (ldap://) or
implicit TLS (ldaps://), the server certificate validated against ``ca_file`` → bind as
the service account → search ``(&(objectClass=C)(ATTR=<escaped uid>))`` under the tenant's
base DN only (so the same uid in another tenant's OU never matches), reading the entry's
stable identifier (``entryUUID``, AD's ``objectGUID``, else the DN: ``LdapResult.stable_id``,
which binds the gateway account to the person, whatever spelling of the uid matched) →
read the user's groups
(still as the service account) → re-bind as the user's DN with the password.

A directory that cannot be reached (or whose TLS fails) raises ``LdapUnavailable``: the
gateway then refuses the login with that reason in the audit log and never falls back to a
weaker check. Every login opens fresh connections, so a restarted slapd serves the next
login without restarting the gateway. ppolicy response controls are never requested, so a
locked account looks like a wrong password to everyone but the audit log ("bind refused").
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import socket
import ssl
from dataclasses import dataclass

from ldap3 import NONE, SIMPLE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from gateway.policy.model import LdapSettings


class LdapUnavailable(Exception):
    """No directory server could be used (down, timeout, TLS failure, service bind)."""


@dataclass(frozen=True)
class LdapResult:
    ok: bool
    reason: str  # audit-only detail
    found: bool = False
    dn: str = ""
    groups: tuple[str, ...] = ()
    stable_id: str = ""  # the directory's own id of the entry (see ``stable_id``)


STABLE_ID_ATTRS = ("entryUUID", "objectGUID")


def stable_id(entry: dict) -> str:  # type: ignore[type-arg]
    """``entryUUID:...`` (OpenLDAP, RFC 4530), ``objectGUID:<hex>`` (Active Directory), else
    ``dn:<lower-case DN>`` (hashed when long): what identifies the person in the directory."""
    raw = entry.get("raw_attributes") or {}
    for attr in STABLE_ID_ATTRS:
        values = next((v for k, v in raw.items() if k.lower() == attr.lower() and v), None)
        if values:
            value = values[0]
            if attr == "objectGUID":
                return f"objectGUID:{bytes(value).hex()}"
            text = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)
            return f"entryUUID:{text.strip().lower()}"
    dn = str(entry.get("dn", "")).strip().lower()
    return f"dn:{dn}" if len(dn) <= 200 else f"dn-sha256:{hashlib.sha256(dn.encode()).hexdigest()}"


class LdapDirectory:
    def __init__(self, settings: LdapSettings, bind_password: str) -> None:
        self.s = settings
        self._bind_password = bind_password

    def _server(self, url: str) -> Server:
        tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=self.s.ca_file or None,
                  version=ssl.PROTOCOL_TLS_CLIENT)
        return Server(url, use_ssl=url.lower().startswith("ldaps://"), tls=tls,
                      connect_timeout=self.s.timeout_s, get_info=NONE)

    def _open(self, url: str, user: str, password: str) -> Connection:
        """An open, TLS-protected, NOT yet bound connection (raises LDAPException)."""
        conn = Connection(self._server(url), user=user, password=password,
                          authentication=SIMPLE,
                          receive_timeout=max(1, math.ceil(self.s.timeout_s)),
                          read_only=True, raise_exceptions=False, auto_bind="NONE")
        conn.open()
        sock = conn.socket
        raw = getattr(sock, "_sock", sock)
        for s in {id(sock): sock, id(raw): raw}.values():
            with contextlib.suppress(OSError, AttributeError):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not url.lower().startswith("ldaps://"):
            if not self.s.starttls:
                conn.unbind()
                raise LdapUnavailable("plain LDAP without StartTLS is not allowed")
            if not conn.start_tls():
                conn.unbind()
                raise LdapUnavailable("StartTLS refused by server")
        return conn

    def _connect_service(self) -> tuple[str, Connection]:
        """Failover over the URLs in order; the first that binds as the service wins."""
        problems = []
        for url in self.s.urls:
            try:
                conn = self._open(url, self.s.bind_dn, self._bind_password)
                if conn.bind():
                    return url, conn
                problems.append(f"{url}: service bind refused ({conn.result.get('description')})")
                conn.unbind()
            except (LDAPException, OSError, ssl.SSLError) as exc:
                problems.append(f"{url}: {type(exc).__name__}")
            except LdapUnavailable as exc:
                problems.append(f"{url}: {exc}")
        raise LdapUnavailable("directory unavailable: " + "; ".join(problems or ["no URL"]))

    def authenticate(self, uid: str, password: str) -> LdapResult:
        """Verify uid + password; raises LdapUnavailable when the directory cannot answer."""
        if not password:
            return LdapResult(False, "empty password refused locally")
        url, conn = self._connect_service()
        try:
            flt = (f"(&(objectClass={escape_filter_chars(self.s.user_class)})"
                   f"({escape_filter_chars(self.s.user_attr)}={escape_filter_chars(uid)}))")
            if not conn.search(self.s.base_dn, flt, SUBTREE, attributes=list(STABLE_ID_ATTRS),
                               size_limit=2) \
                    and conn.result.get("result") not in (0, 32):
                raise LdapUnavailable(f"{url}: search failed ({conn.result.get('description')})")
            entries = [e for e in conn.response or [] if e.get("type") == "searchResEntry"]
            if not entries:
                return LdapResult(False, "no such user in directory")
            if len(entries) > 1:
                return LdapResult(False, "ambiguous uid in directory", found=True)
            dn = entries[0]["dn"]
            ident = stable_id(entries[0])
            groups: list[str] = []
            gbase = self.s.group_base_dn or self.s.base_dn
            if conn.search(gbase, f"(member={escape_filter_chars(dn)})", SUBTREE,
                           attributes=["cn"]):
                for e in conn.response or []:
                    if e.get("type") == "searchResEntry":
                        cn = e["attributes"].get("cn")
                        groups.extend(cn if isinstance(cn, list) else [cn])
            if not conn.rebind(user=dn, password=password):
                desc = conn.result.get("description") if conn.result else "refused"
                return LdapResult(False, f"directory bind refused ({desc})", found=True, dn=dn)
            return LdapResult(True, f"directory bind ok via {url}", True, dn,
                              tuple(sorted(groups)), ident)
        except (LDAPException, OSError, ssl.SSLError) as exc:
            raise LdapUnavailable(f"{url}: {type(exc).__name__} during login") from None
        finally:
            with contextlib.suppress(LDAPException, OSError):
                conn.unbind()
