"""IP address sets as sorted, merged integer intervals: O(log n) membership by ``bisect``.

An IPSet of 10,000 CIDRs or a reputation list of 250,000 entries compiles to two sorted arrays
per family (interval starts and ends); a lookup is one ``bisect_right`` and one comparison.
IPv4 and IPv6 are separate tables, so an IPv4-mapped IPv6 client (``::ffff:a.b.c.d``) is folded
to IPv4 first, which is what a dual-stack listener hands us.
"""

from __future__ import annotations

import ipaddress
from array import array
from bisect import bisect_right
from collections.abc import Iterable

__all__ = ["IPRanges", "parse_ip", "parse_network"]


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """A client address, or ``None`` when malformed; IPv4-mapped IPv6 becomes IPv4."""
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.9:8080"
        text = text.split(":", 1)[0]
    try:
        addr = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def parse_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A CIDR (or bare address) with host bits allowed, as reputation lists often have them."""
    return ipaddress.ip_network(text.strip(), strict=False)


class IPRanges:
    """An immutable set of IPv4 and IPv6 intervals; ``in`` takes an address or its text."""

    __slots__ = ("_e4", "_e6", "_s4", "_s6", "size")

    def __init__(
        self, networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network] = ()
    ) -> None:
        v4: list[tuple[int, int]] = []
        v6: list[tuple[int, int]] = []
        n = 0
        for net in networks:
            n += 1
            lo = int(net.network_address)
            hi = lo + net.num_addresses - 1
            (v4 if net.version == 4 else v6).append((lo, hi))
        self.size = n
        s4, e4 = _merge(v4)
        self._s4 = array("Q", s4)
        self._e4 = array("Q", e4)
        # IPv6 integers do not fit an array; sorted lists bisect just as well.
        self._s6, self._e6 = _merge(v6)

    @classmethod
    def from_strings(cls, items: Iterable[str]) -> IPRanges:
        return cls(parse_network(s) for s in items)

    def __contains__(self, item: object) -> bool:
        if isinstance(item, str):
            addr = parse_ip(item)
        elif isinstance(item, ipaddress.IPv4Address | ipaddress.IPv6Address):
            addr = item
        else:
            return False
        if addr is None:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        x = int(addr)
        if addr.version == 4:
            i = bisect_right(self._s4, x) - 1
            return i >= 0 and x <= self._e4[i]
        j = bisect_right(self._s6, x) - 1
        return j >= 0 and x <= self._e6[j]

    def __len__(self) -> int:
        return len(self._s4) + len(self._s6)

    def __repr__(self) -> str:
        return f"IPRanges({self.size} entries, {len(self)} intervals)"


def _merge(pairs: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """Sort and coalesce overlapping or adjacent intervals."""
    pairs.sort()
    starts: list[int] = []
    ends: list[int] = []
    for lo, hi in pairs:
        if ends and lo <= ends[-1] + 1:
            if hi > ends[-1]:
                ends[-1] = hi
        else:
            starts.append(lo)
            ends.append(hi)
    return starts, ends
