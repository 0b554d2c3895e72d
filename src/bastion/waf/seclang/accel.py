"""Hyperscan acceleration of ``@rx``: one scan per (phase, transformed value) answers every
static regex of the phase at once.

Every static ``@rx`` of the ruleset goes into one database per phase (a value that several
transformation chains turn into the same string is scanned once for all of them), compiled
with SINGLEMATCH|ALLOWEMPTY|DOTALL in byte mode. Patterns Hyperscan cannot compile as they are
go in with PREFILTER (a superset: a hit must be confirmed by PCRE2); patterns it cannot take
at all are left to PCRE2. A pattern with ``$`` is also confirmed, because Hyperscan's ``$``
matches before a final newline and ModSecurity's (DOLLAR_ENDONLY) does not. A miss is final;
a hit of an exact pattern is final unless the rule captures (captures always come from PCRE2
through the operator).

Databases are serialized to a cache directory keyed by patterns, flags and the Hyperscan
version, so start-up loads them in milliseconds instead of compiling for seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bastion.waf.seclang.rules import Rule

__all__ = ["HyperscanAccelerator", "default_cache_dir"]

#: The only Hyperscan build known to agree with PCRE on CRS (see crs-engine §5).
PINNED_VERSION = "0.7.13"

EXACT, PREFILTER = "exact", "prefilter"


def default_cache_dir() -> Path:
    """``$BASTION_CACHE_DIR/hyperscan``, else ``~/.cache/bastion/hyperscan``, else a tmp dir."""
    env = os.environ.get("BASTION_CACHE_DIR")
    if env:
        return Path(env) / "hyperscan"
    home = Path.home()
    if home.is_dir() and os.access(home, os.W_OK):
        return home / ".cache" / "bastion" / "hyperscan"
    return Path(tempfile.gettempdir()) / "bastion-hyperscan"


def _hs() -> Any:
    import hyperscan

    return hyperscan


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("hyperscan")
    except Exception:  # pragma: no cover - metadata missing
        return "unknown"


def _base_flags(hs: Any) -> int:
    return int(hs.HS_FLAG_SINGLEMATCH | hs.HS_FLAG_ALLOWEMPTY | hs.HS_FLAG_DOTALL)


def _classify(patterns: list[bytes], cache: Path | None) -> dict[bytes, str | None]:
    """Which patterns compile as they are, which only as prefilters, which not at all."""
    hs = _hs()
    key = hashlib.sha256(("classify\0" + _version() + "\0").encode()
                         + b"\0".join(sorted(set(patterns)))).hexdigest()[:32]
    path = cache / f"classes-{key}.json" if cache is not None else None
    if path is not None and path.is_file():
        try:
            raw = json.loads(path.read_text())
            return {p.encode("latin-1"): c for p, c in raw.items()}
        except (OSError, ValueError):
            pass
    out: dict[bytes, str | None] = {}
    base = _base_flags(hs)
    for p in sorted(set(patterns)):
        cls: str | None = None
        for flags, name in ((base, EXACT), (base | hs.HS_FLAG_PREFILTER, PREFILTER)):
            db = hs.Database(mode=hs.HS_MODE_BLOCK)
            try:
                db.compile(expressions=[p], ids=[0], elements=1, flags=[flags])
            except hs.error:
                continue
            cls = name
            break
        out[p] = cls
    if path is not None:
        _write(path, json.dumps({p.decode("latin-1"): c for p, c in out.items()}).encode())
    return out


def _write(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        return  # a read-only cache only costs start-up time


_NO_HITS: frozenset[int] = frozenset()

#: Values of every shape a request carries. A pattern that matches all of them (``^.*$``,
#: ``.``, ``^[^;\s]+``...) says nothing a scan could use, yet would call back on nearly every
#: scan: it is left to PCRE2 (whose answers the operator remembers).
_PROBES = ("a", "Z9", "x-y_z", "%41", "/p/q.php", "hello world", "1;2", "<b>")


def _matches_anything(link: Rule) -> bool:
    op = link.operator
    match = getattr(op.impl, "match_all", None) if op is not None else None
    return callable(match) and all(match(p) for p in _PROBES)


def _collect(pid: int, start: int, end: int, flags: int, hits: list[int]) -> None:
    """Hyperscan match callback (SINGLEMATCH: once per pattern and scan)."""
    hits.append(pid)


class _Group:
    __slots__ = ("db", "lock", "patterns")

    def __init__(self, db: Any, patterns: list[bytes]) -> None:
        self.db = db
        self.patterns = patterns
        self.lock = threading.Lock()


class HyperscanAccelerator:
    """Per-(phase, chain) databases and the map from rule links to their pattern ids."""

    def __init__(self, groups: list[_Group], index: dict[int, tuple[int, int, bool]],
                 keep: list[Rule]) -> None:
        self._groups = groups
        self._index = index
        self._keep = keep  # the links whose id() the index uses stay alive with us
        self.stats = {"groups": len(groups), "patterns": len(index)}

    @classmethod
    def build(cls, rules: Iterable[Rule], cache_dir: Path | None = None) -> HyperscanAccelerator:
        hs = _hs()
        cache = cache_dir if cache_dir is not None else default_cache_dir()
        links: list[tuple[Rule, Rule, bytes]] = []
        for starter in rules:
            if starter.marker is not None:
                continue
            for link in starter.links:
                op = link.operator
                src = op.regex_source if op is not None else None
                if src is None:
                    continue
                try:
                    links.append((starter, link, src.encode("latin-1")))
                except UnicodeEncodeError:
                    continue
        classes = _classify([p for _, _, p in links], cache)
        # One database per phase: a value is scanned once for every pattern of the phase,
        # whichever transformation chain produced it (most chains leave ordinary values
        # unchanged, so one scan answers for many chains); the engine keys its "any value
        # hit?" answers by target and chain, so patterns of other chains are only noise.
        grouped: dict[int, list[tuple[Rule, bytes, str]]] = {}
        for starter, link, pat in links:
            c = classes.get(pat)
            if c is None or _matches_anything(link):
                continue
            grouped.setdefault(starter.phase, []).append((link, pat, c))
        base = _base_flags(hs)
        groups: list[_Group] = []
        index: dict[int, tuple[int, int, bool]] = {}
        keep: list[Rule] = []
        for gkey in sorted(grouped):
            members = grouped[gkey]
            pats: list[bytes] = []
            flags: list[int] = []
            pid_of: dict[tuple[bytes, str], int] = {}
            for _link, pat, c in members:
                if (pat, c) not in pid_of:
                    pid_of[(pat, c)] = len(pats)
                    pats.append(pat)
                    flags.append(base | (hs.HS_FLAG_PREFILTER if c == PREFILTER else 0))
            db = cls._database(pats, flags, cache)
            gid = len(groups)
            groups.append(_Group(db, pats))
            for link, pat, c in members:
                exact = c == EXACT and b"$" not in pat
                index[id(link)] = (gid, pid_of[(pat, c)], exact)
                keep.append(link)
        return cls(groups, index, keep)

    @staticmethod
    def _database(pats: list[bytes], flags: list[int], cache: Path | None) -> Any:
        hs = _hs()
        h = hashlib.sha256(("db\0" + _version() + "\0").encode())
        for p, f in zip(pats, flags, strict=True):
            h.update(p + b"\0" + str(f).encode() + b"\0")
        path = cache / f"db-{h.hexdigest()[:32]}.hsdb" if cache is not None else None
        if path is not None and path.is_file():
            try:
                db = hs.loadb(path.read_bytes(), hs.HS_MODE_BLOCK)
                db.scratch = hs.Scratch(db)
                return db
            except (OSError, hs.error):
                pass
        db = hs.Database(mode=hs.HS_MODE_BLOCK)
        db.compile(expressions=pats, ids=list(range(len(pats))), elements=len(pats),
                   flags=flags)
        if path is not None:
            _write(path, hs.dumpb(db))
        return db

    def lookup(self, link: Rule) -> tuple[int, int, bool] | None:
        """(group, pattern id, exact) for an accelerated link, else None."""
        return self._index.get(id(link))

    def scan(self, group: int, value: str) -> frozenset[int]:
        """Ids of the group's patterns that hit ``value`` (a latin-1 byte string)."""
        g = self._groups[group]
        hits: list[int] = []
        with g.lock:
            g.db.scan(value.encode("latin-1"), match_event_handler=_collect, context=hits)
        return frozenset(hits) if hits else _NO_HITS
