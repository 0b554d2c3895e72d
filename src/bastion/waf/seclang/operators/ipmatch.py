"""@ipMatch, @ipMatchF / @ipMatchFromFile: IPv4/IPv6 address and CIDR membership.

Description (ModSecurity v2): the argument is a comma-separated list of addresses or CIDRs
(``10.0.0.0/8,::1,2001:db8::/32``); an entry with ``:`` is IPv6. ``@ipMatchFromFile`` reads one
entry per line from a file relative to the rule file (``#`` lines and blank lines skipped). A
mask out of range (``10.0.0.0/100``) counts as a full-length mask, as v2's tree does. The value
must be a plain address (IPv4 when it has no ``:``); anything else does not match.
Example: ``@ipMatch 192.168.0.0/16,10.0.0.1`` matches ``"192.168.4.2"``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from pathlib import Path

from bastion.waf.seclang.cbytes import C_SPACE
from bastion.waf.seclang.operators.base import OperatorError, OperatorOptions, OperatorTx
from bastion.waf.seclang.operators.registry import register

__all__ = ["IpMatchOperator", "IpSet"]

_DIGITS = re.compile(r"\s*[+-]?\d+")


class IpSet:
    """Networks grouped by prefix length: a lookup is one set probe per distinct length."""

    __slots__ = ("_v4", "_v6")

    def __init__(self) -> None:
        self._v4: dict[int, set[int]] = {}
        self._v6: dict[int, set[int]] = {}

    def add(self, entry: str) -> None:
        """Add ``addr`` or ``addr/len``; raises ``ValueError`` on a bad address."""
        text = entry.strip(C_SPACE)
        addr_text, _, mask_text = text.partition("/")
        v6 = ":" in addr_text
        addr = ipaddress.IPv6Address(addr_text) if v6 else ipaddress.IPv4Address(addr_text)
        bits = 128 if v6 else 32
        prefix = bits
        if mask_text:
            m = _DIGITS.match(mask_text)
            if m is not None and "." not in mask_text and 0 <= int(m.group(0)) <= bits:
                prefix = int(m.group(0))
        table = self._v6 if v6 else self._v4
        table.setdefault(prefix, set()).add(int(addr) >> (bits - prefix))

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, str) or not value or "%" in value:
            return False
        try:
            if ":" in value:
                addr: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.IPv6Address(value)
                table, bits = self._v6, 128
            else:
                addr = ipaddress.IPv4Address(value)
                table, bits = self._v4, 32
        except ValueError:
            return False
        number = int(addr)
        return any((number >> (bits - prefix)) in nets for prefix, nets in table.items())


class IpMatchOperator:
    """A compiled @ipMatch."""

    __slots__ = ("ips",)

    def __init__(self, entries: Iterable[str], what: str) -> None:
        self.ips = IpSet()
        for entry in entries:
            try:
                self.ips.add(entry)
            except ValueError:
                raise OperatorError(f"{what}: could not add entry {entry!r} to the IP list")\
                    from None

    def evaluate(self, tx: OperatorTx, value: str) -> bool:
        """True when ``value`` is in one of the networks."""
        return value in self.ips


def ip_match(argument: str, options: OperatorOptions) -> IpMatchOperator:
    """Factory of @ipMatch."""
    entries = [e for e in argument.split(",") if e.strip(C_SPACE)]
    if not entries:
        raise OperatorError("@ipMatch: missing parameter")
    return IpMatchOperator(entries, "@ipMatch")


_LINE = re.compile(r"[ \t\n\x0b\x0c\r]*([0-9a-fA-F.:/]*)")


def ip_match_from_file(argument: str, options: OperatorOptions) -> IpMatchOperator:
    """Factory of @ipMatchFromFile (a local file; URLs are not fetched)."""
    name = argument.strip(C_SPACE)
    if not name:
        raise OperatorError("@ipMatchFromFile: missing parameter")
    if "://" in name:
        raise OperatorError("@ipMatchFromFile: remote lists are not supported; use a file")
    path = Path(name)
    if not path.is_absolute():
        path = options.base_dir / path
    entries = []
    try:
        with path.open("rb") as fh:
            for raw in fh:
                line = raw.decode("latin-1")
                if line.lstrip(C_SPACE).startswith("#"):
                    continue
                m = _LINE.match(line)
                if m is not None and m.group(1):
                    entries.append(m.group(1))
    except OSError as exc:
        raise OperatorError(f"@ipMatchFromFile: could not open {str(path)!r}: "
                            f"{exc.strerror or exc}", file=str(path)) from None
    return IpMatchOperator(entries, "@ipMatchFromFile")


register("ipMatch", ip_match)
register("ipMatchF", ip_match_from_file)
register("ipMatchFromFile", ip_match_from_file)
