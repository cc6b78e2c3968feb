"""Source-network rules: CIDR lists (IPv4 and IPv6); an empty list means "no restriction"."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from gateway.errors import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(items: Iterable[str]) -> list[str]:
    """Validate and normalise CIDRs (``10.0.0.0/8``, ``2001:db8::/32``, single addresses)."""
    out = []
    for item in items:
        text = item.strip()
        if not text:
            continue
        try:
            out.append(str(ipaddress.ip_network(text, strict=False)))
        except ValueError:
            raise ConfigError(f"{text!r} is not a network: write e.g. 203.0.113.0/24 or "
                              "2001:db8::/32") from None
    return sorted(set(out))


@lru_cache(maxsize=4096)
def _net(text: str) -> Network:
    return ipaddress.ip_network(text, strict=False)


@lru_cache(maxsize=65536)
def parse_address(text: str) -> Address | None:
    """A client address as front-ends give it (may carry brackets, a port-less zone, or an
    IPv4-mapped IPv6 form); None if it is not an IP address (then no network matches)."""
    t = text.strip().strip("[]").split("%", 1)[0]
    try:
        addr = ipaddress.ip_address(t)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def address_in(remote_addr: str, networks: Iterable[str]) -> bool:
    """True if the address lies in one of the networks (False for a non-IP address)."""
    addr = parse_address(remote_addr)
    if addr is None:
        return False
    for text in networks:
        net = _net(text)
        if net.version == addr.version and addr in net:
            return True
    return False


def within(inner: Iterable[str], outer: Iterable[str]) -> list[str]:
    """The networks of ``inner`` not contained in any of ``outer`` (empty outer = anything)."""
    outs = [_net(o) for o in outer]
    if not outs:
        return []
    bad = []
    for text in inner:
        n = _net(text)
        if not any(n.version == o.version and n.subnet_of(o) for o in outs):  # type: ignore[arg-type]
            bad.append(text)
    return bad
