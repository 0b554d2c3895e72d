"""IP reputation lists from files, reloaded while serving.

Formats: one address or CIDR per line, with ``#`` or ``;`` comments, which covers FireHOL
``.netset``/``.ipset`` files and Spamhaus DROP/EDROP (``1.10.16.0/20 ; SBL256894``). A list of
250,000 entries compiles to merged interval tables (``IPRanges``) with O(log n) lookups.

Reload: ``ranges()`` checks the files' mtimes at most once every ``check_every`` seconds (on the
injected clock) and, when one changed, parses the new contents and swaps the table in one
assignment, so a concurrent lookup sees the old table or the new one, never half of each. A file
that fails to read keeps the previous table (logged), so a bad deploy does not open the gate.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence

from bastion.clock import Clock
from bastion.waf.webacl.ipranges import Interval, IPRanges, parse_interval

__all__ = ["IPReputationList", "parse_list"]

log = logging.getLogger("bastion.waf.reputation")


def parse_list(lines: Iterable[str]) -> tuple[list[Interval], int]:
    """The address intervals of a list, and how many non-comment lines were not addresses."""
    good: list[Interval] = []
    bad = 0
    for line in lines:
        text = line.split("#", 1)[0].split(";", 1)[0].strip()
        if not text:
            continue
        token = text.split()[0]
        iv = parse_interval(token)
        if iv is None:
            bad += 1
        else:
            good.append(iv)
    return good, bad


class IPReputationList:
    """One named list, backed by one or more files."""

    __slots__ = ("_checked", "_clock", "_mtimes", "_ranges", "check_every", "invalid_lines",
                 "name", "paths", "reloads")

    def __init__(self, name: str, paths: Sequence[str], clock: Clock, *,
                 check_every: float = 5.0) -> None:
        self.name = name
        self.paths = tuple(paths)
        self._clock = clock
        self.check_every = check_every
        self._mtimes: tuple[float, ...] = ()
        self._ranges = IPRanges()
        self._checked = float("-inf")
        self.invalid_lines = 0
        self.reloads = 0
        self._reload(force=True)

    def __repr__(self) -> str:
        return f"IPReputationList({self.name!r}, {self._ranges.size} entries)"

    def _stat(self) -> tuple[float, ...] | None:
        try:
            return tuple(os.stat(p).st_mtime_ns for p in self.paths)
        except OSError as exc:
            log.warning("IP list %s: cannot stat %s", self.name, exc.filename)
            return None

    def _reload(self, *, force: bool = False) -> None:
        mt = self._stat()
        if mt is None or (mt == self._mtimes and not force):
            return
        networks: list[Interval] = []
        bad = 0
        try:
            for p in self.paths:
                with open(p, encoding="utf-8", errors="replace") as fh:
                    got, b = parse_list(fh)
                networks.extend(got)
                bad += b
        except OSError as exc:
            log.warning("IP list %s: cannot read %s; keeping the previous table", self.name,
                        exc.filename)
            return
        table = IPRanges.from_intervals(networks)
        self._ranges = table  # one assignment: readers see old or new, never a mix
        self._mtimes = mt
        self.invalid_lines = bad
        self.reloads += 1
        if bad:
            log.warning("IP list %s: skipped %d malformed lines", self.name, bad)

    def ranges(self) -> IPRanges:
        now = self._clock.monotonic()
        if now - self._checked >= self.check_every:
            self._checked = now
            self._reload()
        return self._ranges

    def __contains__(self, item: object) -> bool:
        return item in self.ranges()
