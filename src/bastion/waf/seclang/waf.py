"""The WAF: a loaded, immutable ruleset plus settings; a factory of transactions.

Build one with ``WAF.from_files`` / ``WAF.from_text`` at start-up (it parses, compiles the
operators and, when Hyperscan is enabled, the regex databases), then call ``new_transaction``
for each exchange. A WAF is safe to share between concurrent transactions.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bastion.clock import Clock, SystemClock
from bastion.waf.seclang import variables
from bastion.waf.seclang.actions import compile_actions
from bastion.waf.seclang.collections import CollectionStore, MemoryStore, MultiMap, VarMap
from bastion.waf.seclang.directives import Settings
from bastion.waf.seclang.parser import Parser
from bastion.waf.seclang.registry import Primitives, default_primitives
from bastion.waf.seclang.rules import Rule, Target
from bastion.waf.seclang.screen import Screen, build_screens
from bastion.waf.seclang.specialise import Specialised, specialise
from bastion.waf.seclang.transaction import Transaction

__all__ = ["WAF", "LinkPlan", "Snippet"]


@dataclass(frozen=True, slots=True)
class Snippet:
    """Inline SecLang text; ``name`` appears in error messages instead of a file name."""

    text: str
    name: str = "<rules>"


#: Variables that change while a phase runs (setvar, matches, time).
UNSTABLE = frozenset({
    "TX", "IP", "GLOBAL", "SESSION", "USER", "RESOURCE", "MATCHED_VAR", "MATCHED_VAR_NAME",
    "MATCHED_VARS", "MATCHED_VARS_NAMES", "RULE", "DURATION", "HIGHEST_SEVERITY",
    "TIME_EPOCH", "ENV",
})


#: Target lists interned to small ints (hashing a tuple of targets per rule is not free).
_SIGS: dict[tuple[Target, ...], int] = {}


_TARGET_KEYS: dict[tuple[object, ...], int] = {}
_CHAINS: dict[tuple[str, ...], int] = {}


def _target_key(t: Target, negs: list[Target]) -> int:
    """An int naming what ``variables.generate(tx, t, negs)`` yields."""
    rel = tuple(n.render() for n in negs if n.name == t.name)
    key = (t.name, t.key, t.key_regex.pattern if t.key_regex is not None else None, t.count, rel)
    return _TARGET_KEYS.setdefault(key, len(_TARGET_KEYS))


class LinkPlan:
    """What the rule loop needs about one link, precomputed once per ruleset."""

    __slots__ = ("accel", "coll_key", "effects", "gpos", "link", "mm_key", "negs", "phrases",
                 "pos", "sig", "tf_ids", "tfkey", "tkey", "tx_count", "tx_key")

    def __init__(self, link: Rule, accel: tuple[int, int, bool] | None) -> None:
        self.link = link
        #: The link's setvar/ctl/initcol... actions, parsed once.
        self.effects = compile_actions(link)
        self.pos = tuple(t for t in link.targets if not t.negated)
        self.negs = [t for t in link.targets if t.negated]
        self.accel = accel
        #: The very common single ``TX:name`` / ``&TX:name`` target, looked up directly.
        self.tx_key: str | None = None
        self.tx_count = False
        #: ... and a single ``IP:name`` (any other persistent collection), not counted.
        self.coll_key: tuple[str, str] | None = None
        #: ... and a single ``REQUEST_HEADERS:name`` (a literal key of a multi-map), not
        #: counted: (the map's accessor, the key in lower case, the values' name prefix).
        self.mm_key: tuple[Callable[[Transaction], MultiMap], str, str] | None = None
        if len(self.pos) == 1 and not self.negs:
            t = self.pos[0]
            if t.key is not None and t.key_regex is None:
                mm = variables.multimap_of(t.name)
                if t.name == "TX":
                    self.tx_key = t.key.lower()
                    self.tx_count = t.count
                elif t.name in variables.PERSISTENT and not t.count:
                    self.coll_key = (t.name, t.key)
                elif mm is not None and not t.count:
                    self.mm_key = (mm, t.key.lower(), t.name + ":")
        #: Links that read only request/response data (stable within a phase) with a
        #: non-negated accelerated @rx share one "did any value hit?" answer per phase:
        #: rules whose pattern hit none of the values are skipped without a value loop.
        self.sig: int | None = None
        #: For the same reason the transformed values of a stable target list are computed
        #: once per phase and shared by every link with the same targets and transformations.
        #: Ints naming each prefix of the transformation chain (the transaction's per-value
        #: cache keys) and the chain with its multiMatch flag: hashing ints, not tuples.
        names = link.transformations
        self.tf_ids: tuple[int, ...] = tuple(
            _CHAINS.setdefault(names[: i + 1], len(_CHAINS)) for i in range(len(names)))
        self.tfkey = _CHAINS.setdefault((*names, "\0multi" if link.multi_match else "\0"),
                                        len(_CHAINS))
        self.tkey: tuple[int, int] | None = None
        #: (target, per-target key) of a stable list: one target's values (with the same
        #: exclusions of its collection) are shared across links within a phase too.
        self.gpos: tuple[tuple[Target, int], ...] = ()
        if link.targets and all(t.name not in UNSTABLE for t in link.targets):
            vkey = _SIGS.setdefault(link.targets, len(_SIGS))
            self.gpos = tuple((t, _target_key(t, self.negs)) for t in self.pos)
            self.tkey = (vkey, self.tfkey)
            op = link.operator
            if accel is not None and op is not None and not op.negated \
                    and not link.multi_match:
                self.sig = vkey
        #: A non-negated ``@pm``/``@pmFromFile`` on stable targets: one phrase search over
        #: all its values joined tells when none of them can match.
        self.phrases: Any = None
        op = link.operator
        if self.tkey is not None and op is not None and not op.negated \
                and op.name.lower() in ("pm", "pmfromfile", "pmf"):
            matcher = getattr(op.impl, "matcher", None)
            if matcher is not None and getattr(matcher, "joinable", False):
                self.phrases = matcher


class WAF:
    """Compiled rules per phase, settings, the persistent store and the regex accelerator."""

    def __init__(
        self, rules: Sequence[Rule], settings: Settings, *, clock: Clock | None = None,
        store: CollectionStore | None = None, accel: Any = None,
    ) -> None:
        self.settings = copy.deepcopy(settings)
        self.clock: Clock = clock or SystemClock()
        self.store: CollectionStore = store or MemoryStore(self.clock)
        self.rules: tuple[Rule, ...] = tuple(rules)
        self._phases: dict[int, tuple[Rule, ...]] = {
            p: tuple(r for r in self.rules if r.marker is not None or r.phase == p)
            for p in range(1, 6)
        }
        self.accel = accel
        self.plans: dict[int, LinkPlan] = {}
        for r in self.rules:
            for link in r.links if r.marker is None else ():
                ref = accel.lookup(link) if accel is not None else None
                self.plans[id(link)] = LinkPlan(link, ref)
        #: Self-check mode (tests, canaries): every accelerated regex decision is also made
        #: by PCRE2 and disagreements are recorded here.
        self.verify_accel = False
        #: Hyperscan group -> short value -> the patterns that hit it, shared by transactions
        #: (a pure function of the value; bounded by ``Transaction.accel_scan``). One dict per
        #: group: no (group, value) key to build per scan, nor for the collector to track.
        self.scan_memory: dict[int, dict[str, frozenset[int]]] = {}
        self.scan_remembered = 0   # entries over all groups
        self._snapshot_matches: dict[re.Pattern[str], frozenset[str]] = {}
        self.accel_checks = 0
        self.accel_mismatches: list[tuple[int, str, str]] = []
        #: Constant rules folded at load (see ``specialise``); None: run the full rule lists.
        self.spec: Specialised | None = None
        self.spec = specialise(self)
        #: Per-phase value screening of the specialised programs (``screen``).
        self.screens: dict[int, Screen] = {}
        if self.spec is not None:
            self.screens = build_screens(self, self.spec.phases, self.spec.layouts)
            # a fold's members must always be visited (they read TX alone, so screening never
            # judges them): keep that true whatever screening learns to judge
            for phase, screen in self.screens.items():
                folds = self.spec.folds.get(phase, {})
                for start in [i for i, f in folds.items() if screen.screened & set(f.indices)]:
                    del folds[start]

    @classmethod
    def build(
        cls, sources: Iterable[str | Path | Snippet] = (), *,
        base_dir: Path | None = None, primitives: Primitives | None = None,
        settings: Settings | None = None, clock: Clock | None = None,
        store: CollectionStore | None = None, hyperscan: bool = False,
        cache_dir: Path | None = None,
    ) -> WAF:
        """Parse the sources in order: paths are rule files, ``Snippet``s inline SecLang."""
        parser = Parser(primitives or default_primitives(), settings)
        for src in sources:
            if isinstance(src, Snippet):
                parser.parse_text(src.text, src.name, base_dir)
            else:
                parser.parse_file(src)
        cfg = parser.finish()
        accel = None
        if hyperscan:
            from bastion.waf.seclang.accel import HyperscanAccelerator

            accel = HyperscanAccelerator.build(cfg.rules, cache_dir=cache_dir)
        return cls(cfg.rules, cfg.settings, clock=clock, store=store, accel=accel)

    def snapshot_matching(self, pattern: re.Pattern[str], literal: str) -> frozenset[str]:
        """The TX snapshot's keys (lower case) that ``TX:/pattern/`` selects (``literal``: the
        pattern's required literal), remembered per pattern."""
        got = self._snapshot_matches.get(pattern)
        if got is None:
            snapshot = self.spec.snapshot if self.spec is not None else VarMap("TX")
            got = self._snapshot_matches[pattern] = frozenset(
                low for low, (key, _) in snapshot.lowered_items()
                if literal in low and pattern.search(key) is not None)
        return got

    def phase_rules(self, phase: int) -> tuple[Rule, ...]:
        return self._phases[phase]

    def rule(self, rule_id: int) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id and r.marker is None), None)

    def new_transaction(self, unique_id: str | None = None) -> Transaction:
        return Transaction(self, unique_id)
