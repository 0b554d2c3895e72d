"""Value screening: which rules of a phase could match at all, answered per request value.

On an ordinary request almost no rule matches, yet finding that out rule by rule (gather the
targets' values, transform them, scan, evaluate) is most of the engine's time. Screening turns
the question around. A link is *screenable* when its outcome depends only on the values of
its targets: a pure operator (a static ``@rx`` answered by the Hyperscan scan, ``@pm``,
``@detectSQLi``, ``@validateByteRange``, comparisons...; macros only of TX keys no live rule
of the phase writes, judged with their snapshot values) over request data that does not
change while the phase runs. Each value of each *source* (a variable such as
``REQUEST_HEADERS`` or ``ARGS``, one literal key of it, or a count; key regexes ignored) is
screened once against every screenable link reading that source, through the link's
transformations: the answer is the set of links that value can match. A rule is a candidate
when each of its screenable links can match (links after one that acts or captures are not
judged); the others are passed over, and candidates run as usual, with their exact target
selection, exclusions, chains and actions. Ignoring key regexes and exclusions only ever adds
candidates, so screening never changes a verdict.

A value's answer is a pure function of the value and the loaded ruleset, so it is remembered
across transactions (bounded; long values are not kept): the header values, paths and argument
names that repeat from request to request then cost one dictionary look-up each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bastion.waf.seclang import variables
from bastion.waf.seclang.collections import VarMap
from bastion.waf.seclang.macro import compile_template
from bastion.waf.seclang.rules import Rule, Target, Transformation
from bastion.waf.seclang.specialise import may_write, tx_keys_read_by_macros, tx_writes

if TYPE_CHECKING:
    from bastion.waf.seclang.specialise import Entry, Layout, Replay
    from bastion.waf.seclang.transaction import Transaction
    from bastion.waf.seclang.waf import WAF

__all__ = ["Screen", "build_screens"]

#: Operators whose answer depends only on the (transformed) value and their static argument
#: (besides a static ``@rx``).
_PURE = frozenset({
    "pm", "pmfromfile", "pmf", "detectsqli", "detectxss", "validatebyterange",
    "validateurlencoding", "validateutf8encoding", "within", "contains", "containsword",
    "beginswith", "endswith", "streq", "eq", "ge", "gt", "le", "lt", "ipmatch",
    "ipmatchfromfile", "ipmatchf", "strmatch",
})

#: Remembered answers per phase before the memory is cleared (one dict per source, counted
#: together): with the length bound, at most ~20 MB per phase however many distinct values
#: clients send.
MAX_REMEMBERED = 20_000
#: Values longer than this are screened every time instead of remembered.
MAX_REMEMBERED_LEN = 1024
_NOTHING: frozenset[int] = frozenset()
#: The ``parts`` key of the sources' answer that holds for the whole phase.
STABLE = -1

#: (variable name, XPath for XML or a literal collection key (lower case), else None); for a
#: count (``&ARGS``) ("&" + name, the target itself).
Source = tuple[str, "str | Target | None"]


@dataclass(frozen=True, slots=True)
class _Check:
    """One screenable rule as seen from one source: its chain and how to test a value."""

    index: int  # the slot of the link (a starter's is the rule's position in the program)
    link: Rule
    group: int  # Hyperscan group of an accelerated @rx, else -1
    pid: int
    exact: bool


@dataclass(frozen=True, slots=True)
class _Chain:
    names: tuple[str, ...]
    impls: tuple[Transformation, ...]
    multi: bool  # multiMatch: the operator also sees every intermediate value that changed
    accelerated: tuple[_Check, ...]  # non-negated Hyperscan checks: answered by a scan's hits
    others: tuple[_Check, ...]  # negated or not accelerated: asked one by one

    @classmethod
    def of(cls, names: tuple[str, ...], impls: tuple[Transformation, ...], multi: bool,
           checks: list[_Check]) -> _Chain:
        def by_hit(c: _Check) -> bool:
            return c.group >= 0 and c.link.operator is not None \
                and not c.link.operator.negated
        return cls(names, impls, multi, tuple(c for c in checks if by_hit(c)),
                   tuple(c for c in checks if not by_hit(c)))


#: Variables a ``ctl`` can change in the middle of a phase (``requestBodyProcessor``,
#: ``forceRequestBodyVariable``); every other source is screened once per phase.
_VOLATILE = frozenset({"REQUEST_BODY", "REQBODY_PROCESSOR"})


@dataclass(frozen=True, slots=True)
class _SourcePlan:
    source: Source
    chains: tuple[_Chain, ...]
    values: Callable[[Transaction], list[str]]
    volatile: bool
    #: Every chain's accelerated checks by group -> pattern id -> (chain index, check): a
    #: scan's few hits name the checks directly, and as most chains leave a value as it is,
    #: one scan per distinct transformed value serves them all.
    merged: tuple[tuple[int, dict[int, tuple[tuple[int, _Check], ...]]], ...] = ()
    #: For a source with at most one value (a scalar, a count): that value, without a list.
    scalar: Callable[[Transaction], str | None] | None = None

    @classmethod
    def of(cls, source: Source, chains: tuple[_Chain, ...]) -> _SourcePlan:
        merged: dict[int, dict[int, list[tuple[int, _Check]]]] = {}
        for ci, chain in enumerate(chains):
            for c in chain.accelerated:
                merged.setdefault(c.group, {}).setdefault(c.pid, []).append((ci, c))
        return cls(source, chains, _values_of(source), source[0] in _VOLATILE,
                   tuple((g, {pid: tuple(v) for pid, v in pids.items()})
                         for g, pids in sorted(merged.items())), _scalar_of(source))


class Screen:
    """The screenable rules of one phase program, grouped by source and transformation chain."""

    def __init__(self, screened: frozenset[int], sources: tuple[_SourcePlan, ...],
                 layout: Layout, size: int, owner: dict[int, int] | None = None,
                 needs: dict[int, frozenset[int]] | None = None,
                 tx_reads: dict[int, frozenset[str]] | None = None,
                 snapshot: VarMap | None = None, gates: dict[int, Replay] | None = None
                 ) -> None:
        self.screened = screened  # program indices of screenable rules
        #: Screening answers in *slots*: a rule's starter is its program index, each other
        #: screenable link of its chain has a slot of its own; a chain can only match when
        #: every screenable link of it can (``needs``).
        self._owner = owner if owner is not None else {i: i for i in screened}
        self._needs = needs or {}
        #: Rules judged with snapshot values of TX keys (operator macros): when an earlier
        #: phase wrote one of those keys the answer does not hold and the rule is a candidate.
        self._tx_reads = tx_reads or {}
        self._snapshot = snapshot if snapshot is not None else VarMap("TX")
        #: Screened rules whose first link reads TX alone and cannot match while the keys
        #: it reads hold their snapshot values (``Replay``, not fired), keys no rule of the
        #: phase writes: 920360's ``&TX:ARG_NAME_LENGTH "@eq 1"`` before its ``ARGS_NAMES``
        #: link. Whatever the values, such a rule is no candidate unless an earlier phase
        #: wrote one of those keys.
        self._gates = gates or {}
        self._gated = frozenset(self._gates)
        #: The slots that are their own rule, with no other link to check (most).
        self._alone = frozenset(slot for slot, index in self._owner.items()
                                if slot == index and index not in self._needs)
        #: Every TX key some judged rule reads (when none was written, all answers hold).
        self._tx_read_keys = frozenset(k for keys in self._tx_reads.values() for k in keys)
        #: Every other program index (markers, jumps, rules that always run), in order.
        self.unscreened: tuple[int, ...] = tuple(i for i in range(size) if i not in screened)
        #: The same among the layout's live rules (no rule removed at run time).
        self.live_unscreened: tuple[int, ...] = tuple(
            i for i in layout.live if i not in screened)
        self.dead = layout.dead
        self.sources = sources
        #: The variables a ``ctl`` can change that this phase's screening reads.
        self.volatile = frozenset(p.source[0] for p in sources if p.volatile)
        #: Per source: value -> its answer (a dict per source: no (source, value) tuple to
        #: build and hash per look-up); ``_remembered`` counts their entries together.
        self._memory: tuple[dict[str, frozenset[int]], ...] = tuple({} for _ in sources)
        self._remembered = 0
        # header-like collections (one MultiMap) whose general source and literal keys are
        # screened in one pass: (items, general source or -1, {lower-case key: source})
        fams: dict[str, tuple[int, dict[str, int]]] = {}
        for si, plan in enumerate(sources):
            name, key = plan.source
            if variables.multimap_of(name) is None or isinstance(key, Target):
                continue
            general, keyed = fams.get(name, (-1, {}))
            if key is None:
                general = si
            else:
                keyed[key] = si
            fams[name] = (general, keyed)
        self._families: tuple[tuple[Callable[[Transaction], Iterable[tuple[str, str]]], int,
                                    dict[str, int]], ...] = tuple(
            (_items_of(name), general, keyed) for name, (general, keyed) in fams.items())
        in_family = {si for _, general, keyed in self._families
                     for si in (general, *keyed.values()) if si >= 0}
        #: The other sources: (index, scalar reader or None, values reader), those a ``ctl``
        #: can change apart (never in a family: they are scalars).
        self._single = tuple((si, p.scalar, p.values) for si, p in enumerate(sources)
                             if si not in in_family and not p.volatile
                             and p.source[0] not in variables.ALWAYS_EMPTY)
        self._volatile = tuple((si, p.values) for si, p in enumerate(sources)
                               if si not in in_family and p.volatile)

    def candidates(self, tx: Transaction, parts: dict[int, AbstractSet[int]] | None = None, *,
                   all_rules: bool = False) -> set[int]:
        """Program indices of the screenable rules some value of this request may match.

        ``parts`` keeps the answer of the sources a ``ctl`` cannot change for the phase:
        screening again after a ``ctl`` only looks at the others. ``all_rules``: a runtime exclusion
        removed rules, so ranges that jumps pass over may run too (and write TX keys).
        """
        found = self._slots(tx, parts)
        if self._needs:
            # a found slot of a one-link rule is its rule (one set operation for them all);
            # a chain's rule is in when every screenable link of it may match
            out = found & self._alone
            owner, needs = self._owner, self._needs
            for slot in found - self._alone:
                index = owner[slot]
                need = needs.get(index)
                if need is None or (index not in out and need <= found):
                    out.add(index)
        else:
            out = found
        written = tx.tx.written
        if self._tx_reads and all_rules:
            out.update(self._tx_reads)
        elif self._tx_reads and written and not self._tx_read_keys.isdisjoint(written):
            for index, keys in self._tx_reads.items():
                if not keys.isdisjoint(written):
                    out.add(index)
        if written is not None and not tx._target_exclusions:
            # the loop would replay "not matching" for these (the same conditions)
            for index in self._gated & out:
                if self._gates[index].valid(written):
                    out.discard(index)
        return out

    def _answer(self, tx: Transaction, si: int, value: str) -> frozenset[int]:
        """The slots ``value`` of source ``si`` may match (remembered)."""
        memory = self._memory[si]
        hit = memory.get(value)
        if hit is None:
            hit = self._screen(tx, self.sources[si], value)
            if len(value) <= MAX_REMEMBERED_LEN:
                if self._remembered >= MAX_REMEMBERED:
                    for m in self._memory:
                        m.clear()
                    self._remembered = 0
                memory[value] = hit
                self._remembered += 1
        return hit

    def _slots(self, tx: Transaction, parts: dict[int, AbstractSet[int]] | None) -> set[int]:
        """The slots some value may match. ``parts[STABLE]`` keeps the answer of the sources
        no ``ctl`` can change for the rest of the phase; the volatile ones are asked again."""
        stable = parts.get(STABLE) if parts is not None else None
        if stable is None:
            stable = self._stable_slots(tx)
            if parts is not None:
                parts[STABLE] = stable
        out = set(stable)
        memory = self._memory
        answer = self._answer
        for si, values in self._volatile:
            remembered = memory[si]
            for value in values(tx):
                hit = remembered.get(value)
                if hit is None:
                    hit = answer(tx, si, value)
                if hit:
                    out |= hit
        return out

    def _stable_slots(self, tx: Transaction) -> frozenset[int] | set[int]:
        # Most values hit nothing: the answer stays the shared empty set until one does (no
        # set built and merged per source, ~30 sources a request).
        out: frozenset[int] | set[int] = _NOTHING
        memory = self._memory
        answer = self._answer
        for items_of, general, keyed in self._families:
            # one pass over a header-like collection serves its general source and every
            # literal key rules name (REQUEST_HEADERS:Accept...), instead of one look-up each
            for name, value in items_of(tx):
                for si in (general, keyed.get(name.lower(), -1) if keyed else -1):
                    if si >= 0:
                        hit = memory[si].get(value)
                        if hit is None:
                            hit = answer(tx, si, value)
                        if hit:
                            out = out | hit
        for si, scalar, values in self._single:
            if scalar is not None:   # most sources: one value or none
                one = scalar(tx)
                if one is not None:
                    hit = memory[si].get(one)
                    if hit is None:
                        hit = answer(tx, si, one)
                    if hit:
                        out = out | hit
            else:
                remembered = memory[si]
                for value in values(tx):
                    hit = remembered.get(value)
                    if hit is None:
                        hit = answer(tx, si, value)
                    if hit:
                        out = out | hit
        return out

    def _screen(self, tx: Transaction, plan: _SourcePlan, value: str) -> frozenset[int]:
        found: list[int] = []
        probe = _Probe(self._snapshot)
        produced: dict[str, set[int]] = {}  # transformed value -> the chains that made it
        for ci, chain in enumerate(plan.chains):
            tvs = (tx.transform_chain_multi(chain.names, chain.impls, value) if chain.multi
                   else (tx.transform_chain(chain.names, chain.impls, value),))
            for tv in tvs:
                made = produced.get(tv)
                if made is None:
                    produced[tv] = {ci}
                else:
                    made.add(ci)
                for c in chain.others:
                    op = c.link.operator
                    assert op is not None and op.impl is not None
                    if c.group >= 0 and c.pid not in tx.accel_scan(c.group, tv):
                        may = op.negated  # a Hyperscan miss is final
                    elif c.group >= 0 and c.exact:
                        may = not op.negated
                    else:  # a prefilter hit or a PCRE-only pattern: ask the operator
                        may = _confirm(c, tv, probe)
                    if may:
                        found.append(c.index)
        for tv, made in produced.items():
            for group, by_pid in plan.merged:
                for pid in tx.accel_scan(group, tv):
                    for ci, c in by_pid.get(pid, ()):
                        # a miss is final; a hit of a prefilter pattern is confirmed
                        if ci in made and (c.exact or _confirm(c, tv, probe)):
                            found.append(c.index)
        return frozenset(found) if found else _NOTHING   # shared: nothing new to track


def _confirm(c: _Check, value: str, probe: _Probe) -> bool:
    """The operator's own answer (a match limit hit counts as "may match")."""
    op = c.link.operator
    assert op is not None and op.impl is not None
    probe.limit_hit = False
    return op.impl.evaluate(probe, value) != op.negated or probe.limit_hit


class _Probe:
    """The transaction an operator sees while screening: no captures, no macros (screenable
    operators have none), and a regex match limit hit only noted here (the rule itself will
    run and note it on the transaction when it reads that value)."""

    __slots__ = ("limit_hit", "snapshot")
    capture = False

    def __init__(self, snapshot: VarMap) -> None:
        self.limit_hit = False
        self.snapshot = snapshot

    def expand(self, text: str) -> str:
        """TX macros with their snapshot values (the only macros a screened operator has)."""
        if "%{" not in text:
            return text
        snap = self.snapshot
        return compile_template(text).render(
            lambda name, key: snap.get(key) if name == "TX" and key is not None else None)

    def set_captures(self, groups: Sequence[str]) -> None:
        return None

    def note_pcre_limits_exceeded(self) -> None:
        self.limit_hit = True


def _items_of(name: str) -> Callable[[Transaction], Iterable[tuple[str, str]]]:
    mm = variables.multimap_of(name)
    assert mm is not None
    return mm


def _scalar_of(source: Source) -> Callable[[Transaction], str | None] | None:
    """The function giving a source's one value (None: no value), for a source that has at
    most one (a scalar variable, a count), chosen once at load; else None."""
    name, key = source
    if isinstance(key, Target):  # &VAR: the count, exactly as the rule sees it
        target = key
        counted = variables.multimap_of(target.name)
        if counted is not None and target.key_regex is None:
            mm = counted
            if target.key is None:
                return lambda tx: str(len(mm(tx)))
            one_key = target.key.lower()
            return lambda tx: str(mm(tx).count(one_key))
        if target.name in variables.COLLECTIONS and target.name != "XML":
            listed = variables.COLLECTIONS[target.name]
            if target.key is None and target.key_regex is None:
                return lambda tx: str(len(list(listed(tx))))
        return None
    if name == "XML":
        return None
    return variables.SCALARS.get(name)


def _values_of(source: Source) -> Callable[[Transaction], list[str]]:
    """The function that lists a source's values in a transaction, chosen once at load."""
    name, key = source
    scalar = _scalar_of(source)
    if scalar is not None:
        get = scalar

        def one(tx: Transaction) -> list[str]:
            v = get(tx)
            return [] if v is None else [v]
        return one
    if isinstance(key, Target):
        target = key
        return lambda tx: [v for _, v in variables.generate(tx, target, [])]
    if name == "XML":
        xpath = key
        return lambda tx: tx.xml_values(xpath)
    if key is not None:
        lit = key   # lower case
        keyed = variables.multimap_of(name)
        if keyed is not None:
            mmk = keyed
            return lambda tx: [v for _, v in mmk(tx).lowered(lit)]
        if name == "ARGS":
            return lambda tx: [v for _, v in (*tx.args_get.lowered(lit),
                                              *tx.args_post.lowered(lit))]
        return lambda tx: [v for _, v in variables.keyed_values(tx, name, lit) or ()]
    if name.endswith("_NAMES"):   # ARGS_NAMES, REQUEST_HEADERS_NAMES...: the keys
        keys_of = variables.COLLECTIONS[name[:-len("_NAMES")]]
        return lambda tx: [k for k, _ in keys_of(tx)]
    coll = variables.COLLECTIONS[name]
    return lambda tx: [v for _, v in coll(tx)]


def _screenable(waf: WAF, rule: Rule, writable: set[str]
                ) -> tuple[tuple[Source, ...], frozenset[str]] | None:
    """The sources of a screenable link and the TX keys its operator's macros read (judged
    with their snapshot values: no rule of the phase may write them), else None."""
    from bastion.waf.seclang.waf import UNSTABLE

    op = rule.operator
    if op is None or op.impl is None or not rule.targets:
        return None
    sources: list[Source] = []
    for t in rule.targets:
        if t.name in UNSTABLE:
            return None
        if t.negated:
            continue  # exclusions only remove values: ignoring them adds candidates
        if t.count:
            # a count is exact only without exclusions of its collection (they lower it)
            if any(n.negated and n.name == t.name for n in rule.targets):
                return None
            sources.append(("&" + t.name, t))
        elif t.name == "XML":
            sources.append(("XML", t.key))
        elif t.name in variables.SCALARS:
            sources.append((t.name, None))
        elif t.name in variables.COLLECTIONS:
            # a literal key narrows the values (REQUEST_HEADERS:Accept); a key regex does not
            keyed = t.key is not None and t.key_regex is None and variables.has_keyed(t.name)
            sources.append((t.name, t.key.lower() if keyed and t.key else None))
        else:
            return None
    if not sources:
        return None
    keys: frozenset[str] = frozenset()
    if "%{" in op.param:  # e.g. @within %{tx.allowed_methods}: configuration, in practice
        found = tx_keys_read_by_macros(op.param)
        if not found or any(may_write(k, writable) for k in found):
            return None
        keys = frozenset(found)
    name = op.name.lower()
    if name == "rx":
        if getattr(op.impl, "dynamic", True) and not keys:
            return None
    elif name not in _PURE:
        return None
    return tuple(dict.fromkeys(sources)), keys



_MATCHED = ("MATCHED_VAR", "MATCHED_VARS")


def _reads_earlier_matches(rules: Sequence[Rule]) -> bool:
    """Whether some rule can see what an earlier rule matched (MATCHED_VAR* before matching
    anything itself: a rule without operator using it in a macro, or a starter reading it).
    A chain whose first links matched and whose later link did not leaves MATCHED_VAR set;
    judging such a chain on its later links is exact only when nothing can read that."""
    for rule in rules:
        if rule.marker is not None:
            continue
        if any(t.name.startswith(_MATCHED) for t in rule.targets):
            return True
        if rule.operator is None:
            texts = [rule.msg or "", rule.logdata or "", *(a.arg or "" for a in rule.actions)]
            if any("%{" in t and "matched_var" in t.lower() for t in texts):
                return True
    return False


def build_screens(waf: WAF, phases: dict[int, tuple[Entry, ...]],
                  layouts: dict[int, Layout]) -> dict[int, Screen]:
    """One ``Screen`` per phase program (phases without screenable rules get none)."""
    out: dict[int, Screen] = {}
    chains_ok = not _reads_earlier_matches(waf.rules)
    snapshot = waf.spec.snapshot if waf.spec is not None else VarMap("TX")
    for phase, entries in phases.items():
        by_source: dict[Source, dict[tuple[tuple[str, ...], bool], list[_Check]]] = {}
        impls: dict[tuple[str, ...], tuple[Transformation, ...]] = {}
        screened: set[int] = set()
        owner: dict[int, int] = {}  # slot -> program index (a starter's slot is its index)
        needs: dict[int, frozenset[int]] = {}  # rules judged on more than their starter
        dead = layouts[phase].dead
        # TX keys a live rule of the phase may write (and the one @rx itself may set)
        writable: set[str] = {"msc_pcre_limits_exceeded"}
        for index, (rule, _, _, _) in enumerate(entries):
            if rule.marker is None and index not in dead:
                writable |= tx_writes(rule)
        tx_reads: dict[int, frozenset[str]] = {}
        for index, (rule, jump, _, _) in enumerate(entries):
            if rule.marker is not None or jump >= 0 or index in dead:
                # a rule a jump always passes over runs only when a runtime exclusion removed
                # that jump's gate: then it is simply evaluated
                continue
            slots: list[int] = []
            for n, link in enumerate(rule.links):
                if n > 0 and not chains_ok:
                    break
                judged = _screenable(waf, link, writable)
                if judged is None:
                    continue  # a link screening cannot judge: assume it may match
                sources, keys = judged
                if keys:
                    tx_reads[index] = tx_reads.get(index, frozenset()) | keys
                slot = index if n == 0 else len(entries) + len(owner)
                owner[slot] = index
                slots.append(slot)
                accel = waf.plans[id(link)].accel
                group, pid, exact = accel if accel is not None else (-1, -1, False)
                check = _Check(slot, link, group, pid, exact)
                impls[link.transformations] = link.tfn_impls
                chain = (link.transformations, link.multi_match)
                for src in sources:
                    by_source.setdefault(src, {}).setdefault(chain, []).append(check)
                if link.actions or link.capture:
                    # a link that matched has already acted: a later link that cannot match
                    # no longer means the rule would have done nothing
                    break
            if slots:
                screened.add(index)
                if slots != [index]:
                    needs[index] = frozenset(slots)
        if not screened:
            continue
        plans = tuple(
            _SourcePlan.of(src, tuple(
                _Chain.of(names, impls[names], multi, checks)
                for (names, multi), checks in chains.items()))
            for src, chains in by_source.items())
        replays = waf.spec.replays.get(phase, {}) if waf.spec is not None else {}
        # a gate holds for the phase only if no rule of the phase can open it (screening
        # answers once, before the phase's rules run)
        gates = {i: r for i, r in replays.items() if i in screened and not r.fired
                 and not r.patterns and not any(may_write(k, writable) for k in r.reads)}
        out[phase] = Screen(frozenset(screened), plans, layouts[phase], len(entries),
                            owner, needs, tx_reads, snapshot, gates)
    return out
