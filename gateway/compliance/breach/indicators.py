"""An incident's indicators: the client addresses (CIDR) and accounts that select events."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import ConfigError
from gateway.policy.logins import canonical_name

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Indicators:
    """An event is involved when its address is in one of ``networks`` OR its account is
    one of ``accounts`` (indicators add up: each one found in the incident is evidence)."""

    networks: tuple[Network, ...] = ()
    accounts: frozenset[str] = frozenset()
    _seen: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def parse(cls, addresses: list[str] | None, accounts: list[str] | None) -> Indicators:
        nets = []
        for text in addresses or []:
            try:
                nets.append(ipaddress.ip_network(text.strip(), strict=False))
            except ValueError:
                raise ConfigError(f"{text!r} is not an address or network: write e.g. "
                                  "203.0.113.7 or 203.0.113.0/24") from None
        names = set()
        for text in accounts or []:
            name = canonical_name(text.strip())
            if name is None:
                raise ConfigError(f"{text!r} is not an account name: write the user name "
                                  "without the @tenant")
            names.add(name)
        if not nets and not names:
            raise ConfigError("a breach report needs indicators: --addresses CIDR,... "
                              "and/or --accounts NAME,...")
        return cls(tuple(nets), frozenset(names))

    def matches(self, event: dict[str, Any]) -> bool:
        if event.get("user") in self.accounts:
            return True
        addr = event.get("remote_addr")
        if not addr or not self.networks:
            return False
        known = self._seen.get(addr)
        if known is None:
            if len(self._seen) >= 100_000:  # bounded: a scan of many addresses
                self._seen.clear()
            known = self._seen[addr] = self._in_networks(addr)
        return known

    def _in_networks(self, addr: str) -> bool:
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return False
        mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:a.b.c.d as a.b.c.d
        return any(ip in net or (mapped is not None and mapped in net)
                   for net in self.networks)

    def describe(self) -> dict[str, list[str]]:
        return {"addresses": [str(n) for n in self.networks],
                "accounts": sorted(self.accounts)}
