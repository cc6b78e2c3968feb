"""Why a client could not negotiate: its banner and what its KEXINIT offered.

asyncssh drops a connection whose algorithms do not match ours with a
``KeyExchangeFailed`` and logs nothing above debug level, so an admin cannot see why a
partner's tool ("Unable to exchange encryption keys") does not connect. When a
connection ends before its first key exchange completed, ``failed_negotiation`` reads
the client's version string and KEXINIT lists (private asyncssh attributes, checked by
tests/security/test_ssh_negotiation_audit.py; asyncssh is pinned, see asyncssh_ext) and
returns a one-line, escaped description for the log and the audit event.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncssh
from asyncssh.packet import PacketDecodeError, SSHPacket

MAX_FIELD = 400  # characters of one offered list kept in the log / audit reason
MAX_BANNER = 200


def escape(raw: bytes | str, limit: int) -> str:
    """Printable ASCII, everything else escaped; clipped to ``limit`` characters."""
    text = raw if isinstance(raw, str) else raw.decode("latin-1")
    out = text.encode("ascii", "backslashreplace").decode("ascii")
    out = "".join(c if 32 <= ord(c) < 127 else f"\\x{ord(c):02x}" for c in out)
    return out if len(out) <= limit else out[: limit - 3] + "..."


@dataclass(frozen=True)
class Offer:
    """The lists of a client's KEXINIT (client-to-server directions)."""

    kex: list[str]
    host_keys: list[str]
    ciphers: list[str]
    macs: list[str]

    @classmethod
    def parse(cls, kexinit: bytes) -> Offer | None:
        """``kexinit``: the payload including the message type byte; None if malformed."""
        try:
            packet = SSHPacket(kexinit)
            packet.get_byte()
            packet.get_bytes(16)  # cookie
            lists = [packet.get_namelist() for _ in range(6)]
        except PacketDecodeError:
            return None

        def names(raw: list[bytes]) -> list[str]:
            return [n.decode("ascii", "backslashreplace") for n in raw]

        return cls(names(lists[0]), names(lists[1]), names(lists[2]), names(lists[4]))

    def mismatch(self, ours: dict[str, list[str]]) -> str:
        """The first category without a common algorithm, with what we offer, or ""."""
        theirs = {"kex": self.kex, "hostkeys": self.host_keys, "ciphers": self.ciphers,
                  "macs": self.macs}
        for label, offered in ours.items():
            if not offered or (label == "macs" and not _needs_mac(self.ciphers, ours)):
                continue
            if not set(offered) & set(theirs[label]):
                return f"no common {label}: server offers {escape(','.join(offered), MAX_FIELD)}"
        return ""

    def describe(self) -> str:
        return "; ".join(f"{label}={escape(','.join(values), MAX_FIELD) or '<none>'}"
                         for label, values in (("kex", self.kex), ("hostkeys", self.host_keys),
                                               ("ciphers", self.ciphers), ("macs", self.macs)))


def _needs_mac(client_ciphers: list[str], ours: dict[str, list[str]]) -> bool:
    """Whether the cipher both sides would pick is not an AEAD (then a MAC is needed)."""
    common = [c for c in client_ciphers if c in ours.get("ciphers", [])]
    return bool(common) and not any(m in common[0] for m in ("-gcm@", "chacha20-poly1305"))


def _server_lists(conn: asyncssh.SSHServerConnection) -> dict[str, list[str]]:
    """What this server offers (asyncssh's per-connection lists)."""
    def names(attr: str) -> list[str]:
        return [n.decode("ascii", "replace") for n in getattr(conn, attr, None) or ()]

    return {"kex": names("_kex_algs"), "hostkeys": names("_server_host_key_algs"),
            "ciphers": names("_enc_algs"), "macs": names("_mac_algs")}


def failed_negotiation(conn: asyncssh.SSHServerConnection,
                       exc: Exception | None) -> str | None:
    """A description if ``conn`` ended before its first key exchange completed after the
    client sent its KEXINIT (a negotiation failure on either side), else None."""
    if getattr(conn, "_session_id", b""):  # a key exchange completed: not our case
        return None
    kexinit = getattr(conn, "_client_kexinit", b"")
    if not kexinit:  # no KEXINIT: a port scan or a dropped TCP connection, not a client
        return None
    banner = escape(getattr(conn, "_client_version", b"")
                    or str(conn.get_extra_info("client_version") or ""), MAX_BANNER)
    offer = Offer.parse(kexinit)
    what = offer.describe() if offer is not None else "malformed KEXINIT"
    mismatch = offer.mismatch(_server_lists(conn)) if offer is not None else ""
    if mismatch:
        what = f"{what}; {mismatch}"
    if isinstance(exc, asyncssh.DisconnectError):
        why = escape(exc.reason, MAX_FIELD)
    elif exc is not None:
        why = escape(f"{type(exc).__name__}: {exc}", MAX_FIELD)
    else:
        why = "client closed the connection during key exchange"
    return f"client={banner}; {what}; error={why}"
