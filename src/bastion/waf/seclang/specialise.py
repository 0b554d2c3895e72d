"""Partial evaluation of a ruleset at load time ("specialisation").

Much of the CRS depends only on configuration, not on the request: the 901 initialisation
rules set TX defaults from constants, and every file opens with paranoia-level gates
(``SecRule TX:EXECUTING_PARANOIA_LEVEL "@lt 2" "...,skipAfter:END-..."``). Evaluating those
for each request is pure waste, so at load we run every rule whose inputs are provably constant
once, on an empty transaction, and build a per-phase *program* without them:

- In the **prefix** (every rule before the first request-dependent rule that could stop, skip
  or remove rules: a ``ctl:ruleEngine``/``ctl:ruleRemove*``, a disruptive action, a
  ``skip``/``skipAfter``) a constant rule's TX writes go into a snapshot every transaction
  starts from, and a constant gate that always skips removes its whole range. Only per-call
  exclusions (``Transaction.remove_ids`` before the first phase) can then differ from the
  load-time run; the transaction checks them and falls back to the full rule list.
- After the prefix, a constant rule that never matches (and changes nothing) is dropped, and a
  constant gate that always skips becomes a jump to its marker, taken unless a runtime
  exclusion removed the gate (the range is kept for that case).

A rule is *constant* when every link reads only literal ``TX:key``/``&TX:key`` targets and
``%{tx.key}`` macros of keys that no request-dependent rule before it can write, writes only
literal TX keys with ``setvar``, captures nothing and has no other action. Prefix folding also
needs that no request-dependent rule before it reads or writes the keys it writes (the snapshot
makes those writes visible from the start).
"""

from __future__ import annotations

import dataclasses
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bastion.waf.seclang.collections import VarMap
from bastion.waf.seclang.macro import compile_template
from bastion.waf.seclang.rules import Rule
from bastion.waf.seclang.variables import required_literal

if TYPE_CHECKING:
    from bastion.waf.seclang.transaction import Transaction
    from bastion.waf.seclang.waf import WAF

__all__ = ["Entry", "Fold", "Layout", "Memo", "Replay", "Specialised", "may_write", "specialise",
           "tx_keys_read_by_macros", "tx_writes"]

#: A program entry: the rule; for a folded gate the program index it jumps to (else -1); for
#: a starter whose accelerated ``@rx`` has a per-phase "any value hit?" answer
#: (``LinkPlan.sig``), that answer's key and the pattern id (else None, -1), so the loop can
#: pass over a rule that cannot match without evaluating it.
Entry = tuple[Rule, int, "tuple[int, int, int] | None", int]

_ALL = "*"  # "every TX key"
_DISRUPTIVE = frozenset({"deny", "drop", "redirect", "proxy", "allow"})
_BARRIER_CTL = ("ruleengine", "ruleremove")
_SIDE_EFFECT_OPS = frozenset({"geolookup", "rbl", "inspectfile", "gsblookup"})


@dataclass(frozen=True, slots=True)
class Specialised:
    """The load-time result: per-phase programs, the TX snapshot and the prefix-folded rules."""

    phases: dict[int, tuple[Entry, ...]]
    snapshot: VarMap
    folded: tuple[Rule, ...]  # rules whose effects are in the snapshot (or that pruned a range)
    layouts: dict[int, Layout]
    replays: dict[int, dict[int, Replay]]  # phase -> program index -> replay
    memos: dict[int, dict[int, Memo]] = dataclasses.field(default_factory=dict)
    #: phase -> program index of a run's first rule -> the run's replays as one (``Fold``)
    folds: dict[int, dict[int, Fold]] = dataclasses.field(default_factory=dict)


_UNSET = "\0unset\0"


@dataclass(frozen=True, slots=True)
class Replay:
    """A kept rule's load-time result, valid while none of the TX keys in ``reads`` has been
    written in the transaction (``VarMap.written``).

    A rule that reads only literal TX keys (and macros of them) decides the same way every
    time those keys hold their snapshot values. Scoring rules are like that: ``949060`` adds
    ``tx.anomaly_score_pl1`` to ``tx.anomaly_score``, ``980115`` sums the levels, and on an
    ordinary request no rule has touched a score, so the result is known at load. A rule whose
    first link alone is like that and does not match at load (``920380``'s
    ``&TX:MAX_NUM_ARGS`` gate before its ``&ARGS`` link) is known not to match either.
    """

    reads: frozenset[str]  # the keys read (``=+`` on a key not yet set by the rule reads it)
    fired: bool
    sets: tuple[tuple[str, str], ...]  # (key as written, value), in the order they were set
    matched: tuple[str, str] | None  # MATCHED_VAR and its name, if a link matched
    matched_vars: tuple[tuple[str, str], ...]
    #: ``TX:/regex/`` targets read (with each pattern's required literal): also invalid once
    #: a written key matches one of them
    patterns: tuple[tuple[str, re.Pattern[str]], ...] = ()

    #: ``sets`` as TX's own items, (lower-case key, (key, value)): what replaying compares
    #: and stores (``VarMap.put``)
    items: tuple[tuple[str, tuple[str, str]], ...] = dataclasses.field(
        init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", tuple((k.lower(), (k, v)) for k, v in self.sets))

    def valid(self, written: set[str]) -> bool:
        """Whether the load-time result still holds, given the keys written so far."""
        return _unwritten(self.reads, self.patterns, written)


def _unwritten(reads: frozenset[str], patterns: tuple[tuple[str, re.Pattern[str]], ...],
               written: set[str]) -> bool:
    """No key in ``reads``, and none a pattern selects, was written in the transaction: the
    TX values a rule reads are still the snapshot's."""
    if not reads.isdisjoint(written):
        return False
    for lit, rx in patterns:
        for key in written:
            if lit in key and rx.search(key) is not None:
                return False
    return True


@dataclass(frozen=True, slots=True)
class Fold:
    """Replays of consecutive live rules applied as one, valid while all of them are.

    On an ordinary request the phase-5 reporting rules (``980100``...) and the phase-2 score
    sums (``949060``...) are all replays; the loop visiting them one by one cost more than the
    replays. A run is folded only when replaying it in order cannot invalidate a later
    member: every key a member sets that a later member reads is set to its snapshot value
    (a no-op while the run is valid) and no member sets a key a later member's ``TX:/regex/``
    selects. Then "every member valid at the start" equals "each valid in its turn", and the
    fold's effect is the members' in order.
    """

    indices: tuple[int, ...]  # the members' program indices, consecutive in the live rules
    reads: frozenset[str]
    patterns: tuple[tuple[str, re.Pattern[str]], ...]
    items: tuple[tuple[str, tuple[str, str]], ...]  # every member's, in order
    fired: tuple[int, ...]  # the ids of the members that fire, in order
    last: Rule  # the rule a macro's ``RULE`` sees afterwards
    matched: tuple[str, str] | None  # MATCHED_VAR afterwards, if a member sets it
    matched_vars: tuple[tuple[str, str], ...]  # the last member's

    def valid(self, written: set[str]) -> bool:
        return _unwritten(self.reads, self.patterns, written)


def _folds(entries: tuple[Entry, ...], layout: Layout, replays: dict[int, Replay],
           snapshot: dict[str, tuple[str, str]]) -> dict[int, Fold]:
    """The foldable runs (two rules or more) of a phase program's live rules."""
    def foldable(idx: int) -> bool:
        rule, _, ukey, _ = entries[idx]
        replay = replays.get(idx)
        # every link reads TX alone (never a screening candidate, always visited), no
        # "any value hit?" gate, and no skip to take
        return replay is not None and ukey is None \
            and all(t.name == "TX" for link in rule.links for t in link.targets) \
            and not (replay.fired and (rule.skip or rule.skip_after))

    out: dict[int, Fold] = {}
    run: list[int] = []
    for idx in (*layout.live, -1):   # -1: the end, closing the last run
        ok = idx >= 0 and foldable(idx)
        if ok and (not run or _joins([replays[i] for i in run], replays[idx], snapshot)):
            run.append(idx)
            continue
        if len(run) > 1:
            out[run[0]] = _fold(entries, run, replays)
        run = [idx] if ok else []
    return out


def _joins(before: list[Replay], replay: Replay, snapshot: dict[str, tuple[str, str]]) -> bool:
    """Whether ``replay`` can follow ``before`` in a fold (see ``Fold``)."""
    for earlier in before:
        for low, item in earlier.items:
            if low in replay.reads and snapshot.get(low) != item:
                return False
            if any(rx.search(low) for _, rx in replay.patterns):
                return False
    return True


def _fold(entries: tuple[Entry, ...], run: list[int], replays: dict[int, Replay]) -> Fold:
    members = [replays[i] for i in run]
    matched = next((r.matched for r in reversed(members) if r.matched is not None), None)
    return Fold(tuple(run), frozenset().union(*(r.reads for r in members)),
                tuple(dict.fromkeys(p for r in members for p in r.patterns)),
                tuple(item for r in members for item in r.items),
                tuple(entries[i][0].id for i, r in zip(run, members, strict=True) if r.fired),
                entries[run[-1]][0], matched, members[-1].matched_vars)


class _Writes(set[str]):
    """``VarMap.written`` while a memoised rule is recorded: also the order of the writes
    (holding the keys written before too, as ``written`` must: see ``Transaction.tx_matching``)."""

    def __init__(self, before: Iterable[str] = ()) -> None:
        super().__init__(before)
        self.order: list[str] = []

    def add(self, key: str) -> None:
        super().add(key)
        self.order.append(key)


def _recording(vm: VarMap, run: Callable[[], bool]) -> tuple[bool, list[str]]:
    """``run()``, and every key of ``vm`` it wrote, first writes first (the order new keys
    take in the map); they stay marked written in ``vm.written`` as a plain run leaves them."""
    outer = vm.written
    writes = vm.written = _Writes(outer or ())
    try:
        result = run()
    finally:
        vm.written = outer
        if outer is not None:
            outer |= writes
    return result, list(dict.fromkeys(writes.order))


#: Request variables whose values alone (with snapshot TX values) decide a memoised rule.
MEMO_INPUTS = frozenset({"REQUEST_HEADERS", "REQUEST_HEADERS_NAMES"})
#: Results kept per memoised rule (distinct header sets); the memory starts over when full.
MEMO_SIZE = 1024
#: Header sets longer than this (values, in characters) are evaluated, never remembered: with
#: the count above, at most ~1 MiB of keys per rule whatever clients send.
MEMO_MAX_CHARS = 1024


@dataclass(frozen=True, slots=True)
class Memo:
    """A rule whose first link reads request headers and whose links otherwise read only TX
    (``920450`` sets ``tx.header_name_<name>`` per header, then checks them against
    ``tx.restricted_headers``; ``901318`` hashes the User-Agent): while the TX keys it reads
    hold their snapshot values (``valid``), what it does is a function of its header values,
    so the engine runs it once per distinct header set and replays the recorded ``Replay``
    after (``run``). Clients repeat their header sets; a new one costs one ordinary
    evaluation and a comparison of TX before and after."""

    #: the TX keys an evaluation reads whether or not the rule fires (``valid``)
    reads: frozenset[str]
    patterns: tuple[tuple[str, re.Pattern[str]], ...]
    results: dict[tuple[Any, ...], Replay]
    #: The header set as a key, straight from the headers for a lone target (the names as
    #: sent for REQUEST_HEADERS_NAMES, one header's (name, value) items); None: the rule's
    #: (name, value) list, built as it reads it.
    keyer: Callable[[Transaction], tuple[Any, ...]] | None = None
    #: ``reads`` and the keys only the last link's actions read (``920450``'s
    #: ``tx.anomaly_score_pl1=+%{tx.critical_anomaly_score}``): those run only when the rule
    #: fires, so a remembered miss stays valid after an earlier rule scored (a request with
    #: one CRS warning kept evaluating 920450 again, ~30 us); a remembered fire is replayed
    #: only while these are unwritten too
    fired_reads: frozenset[str] = frozenset()

    def valid(self, written: set[str]) -> bool:
        return _unwritten(self.reads, self.patterns, written)

    def run(self, tx: Transaction, rule: Rule) -> bool:
        """``tx._eval_rule(rule)``, replayed when this header set was seen before (call only
        while ``valid`` and with no target exclusion in the transaction)."""
        keyer = self.keyer
        key = keyer(tx) if keyer is not None else tuple(tx._values(tx.waf.plans[id(rule)], []))
        hit = self.results.get(key)
        if hit is not None:   # (a remembered set is within the bound below)
            if hit.fired and not hit.valid(tx.tx.written):  # type: ignore[arg-type]
                return tx._eval_rule(rule)
            return tx._replay(rule, hit)
        if sum(len(v) if type(v) is str else len(v[1]) for v in key) > MEMO_MAX_CHARS:
            return tx._eval_rule(rule)
        vm = tx.tx
        data = vm._data
        was = (tx.interruption, tx._allow_phase, tx._allow_request, len(tx.matched))
        previous = (tx.matched_var, tx.matched_var_name)
        tx.matched_var = tx.matched_var_name = _UNSET
        fired, keys = _recording(vm, lambda: tx._eval_rule(rule))
        matched: tuple[str, str] | None = (tx.matched_var, tx.matched_var_name)
        if tx.matched_var is _UNSET:
            matched = None
            tx.matched_var, tx.matched_var_name = previous
        # recorded only when replaying it is the whole story: nothing logged, nothing
        # interrupted, no key deleted (a replay only sets)
        if was == (tx.interruption, tx._allow_phase, tx._allow_request, len(tx.matched)) \
                and (not fired or _benign_fire(rule)) and vm._data is data \
                and all(k in data for k in keys):
            if len(self.results) >= MEMO_SIZE:
                self.results.clear()
            # every key the rule wrote, even with the value it already had here: another
            # transaction may hold another value there (an earlier capture's tx.0)
            self.results[key] = Replay(self.fired_reads, fired, tuple(data[k] for k in keys),
                                       matched, tuple(tx.matched_vars), self.patterns)
        return fired


@dataclass(frozen=True, slots=True)
class Layout:
    """Where a phase program's markers are and what its jumps always pass over.

    With no rule removed at run time every jump is taken, so the loop can visit only the
    ``live`` rules (neither markers, nor jumps, nor inside a jump's range) and go to a
    ``skipAfter`` marker by index instead of walking to it.
    """

    markers: dict[str, tuple[int, ...]]  # marker name -> program indices, ascending
    dead: frozenset[int]  # indices inside the range of a jump
    live: tuple[int, ...]

    @classmethod
    def of(cls, entries: tuple[Entry, ...]) -> Layout:
        markers: dict[str, list[int]] = {}
        dead: set[int] = set()
        for idx, (rule, jump, _, _) in enumerate(entries):
            if rule.marker is not None:
                markers.setdefault(rule.marker, []).append(idx)
            elif jump >= 0:
                dead.update(range(idx + 1, jump))
        live = tuple(i for i, (rule, jump, _, _) in enumerate(entries)
                     if rule.marker is None and jump < 0 and i not in dead)
        return cls({k: tuple(v) for k, v in markers.items()}, frozenset(dead), live)

    def marker_after(self, name: str, idx: int, end: int) -> int:
        """The index of the first marker ``name`` after ``idx`` (``end`` when none)."""
        for m in self.markers.get(name, ()):
            if m > idx:
                return m
        return end


_INTRA_RULE = frozenset({"MATCHED_VAR", "MATCHED_VAR_NAME"})


def _macro_tx_keys(text: str | None, *, own_match: bool = False) -> set[str] | None:
    """TX keys ``text`` reads through macros; None if it reads anything else (with
    ``own_match``, MATCHED_VAR and MATCHED_VAR_NAME are allowed too: the rule's own match)."""
    out: set[str] = set()
    if not text or "%{" not in text:
        return out
    for part in compile_template(text).parts:
        if isinstance(part, str) or own_match and part[0] in _INTRA_RULE and part[1] is None:
            continue
        coll, key = part
        if coll != "TX" or key is None or "%{" in key:
            return None
        out.add(key.lower())
    return out


def _macro_tx_reads(text: str | None) -> set[str]:
    """TX keys ``text`` may read (``_ALL`` for a key that is itself computed)."""
    out: set[str] = set()
    if not text or "%{" not in text:
        return out
    for part in compile_template(text).parts:
        if not isinstance(part, str) and part[0] == "TX":
            out.add(part[1].lower() if part[1] is not None else _ALL)
    return out


def tx_keys_read_by_macros(text: str) -> set[str] | None:
    """The TX keys ``text``'s macros read (lower case); None if it reads anything else."""
    return _macro_tx_keys(text)


def tx_writes(rule: Rule) -> set[str]:
    """TX keys the chain may write (a computed key as its literal prefix + ``*``)."""
    return _dynamic_io(rule)[1]


def may_write(key: str, writable: set[str]) -> bool:
    """Whether ``key`` is among ``writable`` keys (``tx_writes`` results, prefixes included)."""
    return key in writable or any(w.endswith(_ALL) and key.startswith(w[:-1])
                                  for w in writable)


def _setvar_parts(arg: str) -> tuple[str, str]:
    arg = arg.strip()
    if arg.startswith("!"):
        return arg[1:].strip(), ""
    name, _, value = arg.partition("=")
    return name.strip(), value


def _written_key(name: str) -> str | None:
    """The TX key a ``setvar``/``expirevar`` name writes, None if not TX. A computed key
    (``tx.header_name_%{tx.0}``) is its literal prefix followed by ``_ALL``; a computed
    collection is ``_ALL``."""
    coll, dot, key = name.partition(".")
    if "%{" in coll or not dot:
        return _ALL if "%{" in name else None
    if coll.strip().upper() != "TX":
        return None
    if "%{" in key:
        return key[:key.index("%{")].lower() + _ALL
    return key.lower()


def _is_dirty(key: str, dirty: set[str], prefixes: tuple[str, ...]) -> bool:
    return key in dirty or key.startswith(prefixes)


def _constant_io(rule: Rule, patterns: list[re.Pattern[str]] | None = None
                 ) -> tuple[set[str], set[str], set[str]] | None:
    """(TX keys read, TX keys written, TX keys read only when the rule fires) when the whole
    chain is constant, else None. With ``patterns``, ``TX:/regex/`` targets are allowed too
    and their regexes collected there.

    The last set is what the message, the log data and the last link's actions read: they
    run only once every link matched (relative ``setvar``s are left to ``_relative_writes``).
    """
    reads: set[str] = set()
    writes: set[str] = set()
    fired_reads: set[str] = set()
    last = rule.links[-1]
    for link in rule.links:
        if link.capture:
            return None
        for t in link.targets:
            if t.name == "TX" and not t.negated and t.key_regex is not None \
                    and patterns is not None:
                patterns.append(t.key_regex)
                continue
            if t.name != "TX" or t.negated or t.key is None or t.key_regex is not None:
                return None
            reads.add(t.key.lower())
        op = link.operator
        if op is not None:
            if op.name.lower() in _SIDE_EFFECT_OPS:
                return None
            keys = _macro_tx_keys(op.param)
            if keys is None:
                return None
            reads |= keys
        for a in link.actions:
            if a.name != "setvar" or a.arg is None:
                return None
            name, value = _setvar_parts(a.arg)
            key = _written_key(name)
            if key is None or key.endswith(_ALL):
                return None
            keys = _macro_tx_keys(value)
            if keys is None:
                return None
            writes.add(key)
            (fired_reads if link is last else reads).update(keys)
    for text in (rule.msg, rule.logdata):
        keys = _macro_tx_keys(text)
        if keys is None:
            return None
        fired_reads |= keys
    return reads, writes, fired_reads


def _dynamic_io(rule: Rule) -> tuple[set[str], set[str], bool]:
    """(TX keys possibly read, possibly written, barrier?) of a request-dependent rule."""
    reads: set[str] = set()
    writes: set[str] = set()
    barrier = bool(rule.skip_after or rule.skip) or rule.effective_disruptive in _DISRUPTIVE
    for text in (rule.msg, rule.logdata):
        reads |= _macro_tx_reads(text)
    for link in rule.links:
        if link.capture:
            writes.update(str(i) for i in range(10))
        for t in link.targets:
            if t.name == "TX":
                reads.add(t.key.lower() if t.key is not None and t.key_regex is None else _ALL)
        if link.operator is not None:
            reads |= _macro_tx_reads(link.operator.param)
        for a in link.actions:
            arg = a.arg or ""
            reads |= _macro_tx_reads(arg)
            if a.name in ("setvar", "expirevar"):
                key = _written_key(_setvar_parts(arg)[0] if a.name == "setvar"
                                   else arg.partition("=")[0].strip())
                if key is not None:
                    writes.add(key)
            elif a.name == "ctl" and arg.strip().lower().startswith(_BARRIER_CTL):
                barrier = True
    return reads, writes, barrier


def _benign_fire(rule: Rule) -> bool:
    """Whether firing the rule has no effect beyond its TX writes and its skipAfter."""
    return (not rule.log and rule.severity is None and rule.effective_disruptive == "pass"
            and not rule.skip)


def _relative_writes(links: Iterable[Rule]) -> set[str]:
    """TX keys a ``setvar:tx.k=+n``/``=-n`` of ``links`` (a rule's, in order) updates before
    any plain assignment of them: the rule reads their earlier value (a key it first sets
    outright it does not read)."""
    out: set[str] = set()
    assigned: set[str] = set()
    for link in links:
        for a in link.actions:
            if a.name != "setvar" or a.arg is None:
                continue
            name, value = _setvar_parts(a.arg)
            key = _written_key(name)
            if key is None:
                continue
            if not a.arg.strip().startswith("!") and value[:1] in ("+", "-") \
                    and key not in assigned:
                out.add(key)
            else:
                assigned.add(key)
    return out


_DIGITS = frozenset(str(i) for i in range(10))


def _memo_of(rule: Rule) -> Memo | None:
    """The ``Memo`` of ``rule`` if it qualifies (see ``Memo``), else None."""
    if rule.operator is None or not rule.targets \
            or any(t.name not in MEMO_INPUTS for t in rule.targets):
        return None
    reads: set[str] = set()
    fired_reads: set[str] = set()   # read by the last link's actions: only when it fires
    patterns: list[re.Pattern[str]] = []
    last = rule.links[-1]
    for link in rule.links:
        if link is not rule:
            if link.capture:
                return None
            for t in link.targets:
                if t.name != "TX" or t.negated or (t.key is None and t.key_regex is None):
                    return None
                if t.key_regex is not None:
                    patterns.append(t.key_regex)
                else:
                    reads.add(t.key.lower())  # type: ignore[union-attr]
        op = link.operator
        if op is not None and op.name.lower() in _SIDE_EFFECT_OPS:
            return None
        texts: list[str] = []
        for a in link.actions:
            if a.name != "setvar" or a.arg is None:
                return None
            name, value = _setvar_parts(a.arg)
            if _written_key(name) is None:
                return None
            texts += (name, value)
        for text, into in ((op.param if op is not None else None, reads),
                           *((t, fired_reads if link is last else reads) for t in texts)):
            keys = _macro_tx_keys(text, own_match=True)
            if keys is None:
                return None
            into |= keys
    early = _relative_writes(rule.links[:-1])
    reads |= early
    fired_reads |= _relative_writes(rule.links) - early
    if rule.capture:
        # the first link's capture sets them before anything reads them
        reads -= _DIGITS
        fired_reads -= _DIGITS
    return Memo(frozenset(reads),
                tuple((required_literal(p.pattern), p) for p in patterns), {},
                _header_keyer(rule), frozenset(reads | fired_reads))


def _header_keyer(rule: Rule) -> Callable[[Transaction], tuple[Any, ...]] | None:
    """``Memo.keyer`` for a rule with one plain target; None for any other."""
    if len(rule.targets) != 1:
        return None
    t = rule.targets[0]
    if t.negated or t.count or t.key_regex is not None:
        return None
    if t.name == "REQUEST_HEADERS_NAMES" and t.key is None:
        first = operator.itemgetter(0)
        return lambda tx: tuple(map(first, tx.request_headers.pairs))
    if t.name == "REQUEST_HEADERS" and t.key is not None:
        key = t.key
        return lambda tx: tuple(tx.request_headers.get_items(key))
    return None


def _replay_of(scratch: Transaction, rule: Rule) -> Replay | None:
    """Evaluate a kept rule on the scratch transaction (then undo it) if it reads TX only."""
    patterns: list[re.Pattern[str]] = []
    io = _constant_io(rule, patterns)
    whole = io is not None
    if io is None:
        # Perhaps its first link alone reads only TX: if that does not match here, the rule
        # does not fire while what it reads is unchanged. A link that does not match runs
        # none of its actions, so only targets and operator count; its capture must have
        # written nothing (checked below).
        patterns = []
        first = dataclasses.replace(rule, chain=None, msg=None, logdata=None, actions=(),
                                    capture=False)
        io = _constant_io(first, patterns)
        if io is None:
            return None
    keyed = tuple((required_literal(p.pattern), p) for p in patterns)
    tx = scratch.tx
    before = dict(tx._data)
    matched_before = len(scratch.matched)
    scratch.matched_var = scratch.matched_var_name = _UNSET
    scratch.matched_vars = []
    fired, written = _recording(
        tx, lambda: scratch._eval_rule(rule) if whole else scratch._eval_link(rule, rule, []))
    after = tx._data
    quiet = scratch.interruption is None and not scratch._allow_phase \
        and not scratch._allow_request and len(scratch.matched) == matched_before
    result: Replay | None = None
    if not whole:
        if not fired and quiet and not written:
            result = Replay(frozenset(io[0] | io[2]), False, (), None, (), keyed)
    elif quiet and (not fired or _benign_fire(rule)) and before.keys() <= after.keys():
        # every key written, even with the value it had at load: at run time an earlier
        # rule may have left another value there, which a real run would overwrite
        changed = [after[k] for k in written if k in after]
        matched = None if scratch.matched_var is _UNSET else (
            scratch.matched_var, scratch.matched_var_name)
        # a rule that did not fire read only what decided that: not its message, nor the
        # last link's actions (949061's tx.anomaly_score=+%{tx.anomaly_score_pl2}, 980100's
        # message), so it replays after an earlier rule scored
        reads = io[0] | io[2] | _relative_writes(rule.links) if fired \
            else io[0] | _relative_writes(rule.links[:-1])
        result = Replay(frozenset(reads), fired, tuple(changed),
                        matched, tuple(scratch.matched_vars), keyed)
    tx._data = before
    scratch.interruption = None
    scratch._allow_phase = scratch._allow_request = False
    del scratch.matched[matched_before:]
    return result


def specialise(waf: WAF) -> Specialised | None:
    """Fold the constant rules of ``waf`` (see the module docstring); None when pointless."""
    from bastion.waf.seclang.transaction import Transaction

    if waf.settings.rule_engine == "Off":
        return None
    scratch = Transaction(waf, unique_id="specialise")
    tx = scratch.tx
    dirty: set[str] = {"msc_pcre_limits_exceeded"}  # keys a request-dependent rule may write
    dyn_reads: set[str] = set()
    prefix = True
    folded: list[Rule] = []
    phases: dict[int, tuple[Entry, ...]] = {}
    replays: dict[int, dict[int, Replay]] = {}
    memos: dict[int, dict[int, Memo]] = {}
    for phase in range(1, 6):
        rules = waf.phase_rules(phase)
        out: list[Rule] = []
        replays[phase] = {}
        memos[phase] = {}
        jumps: dict[int, str] = {}  # index in out -> marker name
        protect = 0  # rules after a dynamic skip:N keep their count
        i = 0
        while i < len(rules):
            rule = rules[i]
            i += 1
            if rule.marker is not None:
                out.append(rule)
                continue
            prefixes = tuple(k[:-1] for k in dirty if k.endswith(_ALL))
            io = _constant_io(rule) if protect == 0 and "" not in prefixes else None
            if io is not None and not any(_is_dirty(k, dirty, prefixes)
                                          for k in io[0] | io[2]):
                writes = io[1]
                snap = dict(tx._data)
                scratch.matched_vars = []
                fired = scratch._eval_rule(rule)
                scratch.interruption = None
                scratch._allow_phase = scratch._allow_request = False
                changed = tx._data != snap
                if prefix and not (writes & (dyn_reads | dirty)) and _ALL not in dyn_reads \
                        and not any(_is_dirty(k, dirty, prefixes) for k in writes) \
                        and (not fired or _benign_fire(rule)):
                    folded.append(rule)
                    if fired and rule.skip_after:
                        while i < len(rules) and rules[i].marker != rule.skip_after:
                            i += 1
                    continue
                if not changed and not fired:
                    continue
                if not changed and fired and _benign_fire(rule) and rule.skip_after:
                    jumps[len(out)] = rule.skip_after
                    out.append(rule)
                    continue
                tx._data = snap  # kept as a request-time rule
            r, w, barrier = _dynamic_io(rule)
            dyn_reads |= r
            dirty |= w
            if barrier:
                prefix = False
            if protect:
                protect -= 1
            protect = max(protect, rule.skip)
            replay = _replay_of(scratch, rule)
            if replay is not None:
                replays[phase][len(out)] = replay
            else:
                memo = _memo_of(rule)
                if memo is not None:
                    memos[phase][len(out)] = memo
            out.append(rule)
        entries: list[Entry] = []
        for idx, rule in enumerate(out):
            target = jumps.get(idx)
            if target is None:
                plan = waf.plans.get(id(rule)) if rule.marker is None else None
                if plan is not None and plan.sig is not None and plan.accel is not None:
                    entries.append((rule, -1, (plan.sig, plan.tfkey, plan.accel[0]),
                                    plan.accel[1]))
                else:
                    entries.append((rule, -1, None, -1))
                continue
            dest = next((j for j in range(idx + 1, len(out)) if out[j].marker == target),
                        len(out))
            entries.append((rule, dest, None, -1))
        phases[phase] = tuple(entries)
    snapshot = VarMap("TX")
    snapshot._data = dict(tx._data)
    layouts = {p: Layout.of(e) for p, e in phases.items()}
    folds = {p: _folds(e, layouts[p], replays[p], snapshot._data) for p, e in phases.items()}
    return Specialised(phases, snapshot, tuple(folded), layouts, replays, memos, folds)
