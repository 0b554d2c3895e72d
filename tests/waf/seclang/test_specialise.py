"""Load-time specialisation must never change a decision: the folded program and the full rule
list agree, including when exclusions remove a folded rule and when a request-dependent rule
writes a key a gate reads."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.waf.seclang import ftw, variables
from bastion.waf.seclang.registry import Primitives
from bastion.waf.seclang.rules import Target
from bastion.waf.seclang.transaction import Transaction
from bastion.waf.seclang.waf import WAF

from .conftest import VECTORS, make_waf
from .test_engine import ids, run

# a CRS-shaped file: constant initialisation, a paranoia gate, a rule it skips, a marker
GATED = """
SecAction "id:10,phase:1,pass,nolog,setvar:tx.pl=1,setvar:tx.score_base=5"
SecRule TX:PL "@lt 2" "id:11,phase:2,pass,nolog,skipAfter:END-PL2"
SecRule ARGS "@rx evil" "id:12,phase:2,deny,status:403"
SecMarker END-PL2
SecRule ARGS "@rx bad" "id:13,phase:2,pass,setvar:tx.score=+%{tx.score_base}"
"""


def _program_ids(waf: WAF, phase: int) -> list[int]:
    assert waf.spec is not None
    return [r.id for r, *_ in waf.spec.phases[phase] if r.marker is None]


def _unspecialised(waf: WAF) -> WAF:
    plain = WAF(waf.rules, waf.settings, clock=waf.clock, accel=waf.accel)
    plain.spec = None
    return plain


def test_constant_rules_are_folded_into_the_snapshot(prims: Primitives) -> None:
    waf = make_waf(prims, GATED)
    assert waf.spec is not None
    assert waf.spec.snapshot.get("pl") == "1"
    assert [r.id for r in waf.spec.folded] == [10, 11]
    assert _program_ids(waf, 1) == []
    assert _program_ids(waf, 2) == [13]  # 12 sat in the range the gate always skips


@pytest.mark.parametrize("uri", ["/?a=evil", "/?a=bad", "/?a=fine", "/?a=evil&b=bad"])
def test_folded_and_full_programs_agree(prims: Primitives, uri: str) -> None:
    waf = make_waf(prims, GATED)
    for w in (waf, _unspecialised(waf)):
        tx, it = run(w, uri)
        assert it is None
        assert ids(tx) == ([13] if "bad" in uri else [])
        assert tx.tx.get("score") == ("5" if "bad" in uri else None)


def test_excluding_a_folded_gate_runs_the_full_rule_list(prims: Primitives) -> None:
    waf = make_waf(prims, GATED)
    tx = waf.new_transaction()
    tx.remove_ids("11")
    tx.process_connection("192.0.2.1")
    tx.process_uri("GET", "/?a=evil", "HTTP/1.1")
    it = tx.process_request_headers() or tx.process_request_body(b"")
    assert it is not None and it.rule_id == 12
    assert tx.tx.get("pl") == "1"  # the initialisation still ran, now at request time


def test_excluding_an_unrelated_rule_keeps_the_program(prims: Primitives) -> None:
    waf = make_waf(prims, GATED)
    tx = waf.new_transaction()
    tx.remove_ids("13")
    tx.process_connection("192.0.2.1")
    tx.process_uri("GET", "/?a=bad", "HTTP/1.1")
    assert tx.process_request_headers() is None and tx.process_request_body(b"") is None
    assert tx._fast and ids(tx) == []


def test_a_key_written_by_the_request_is_not_constant(prims: Primitives) -> None:
    waf = make_waf(prims, """
SecAction "id:10,phase:1,pass,nolog,setvar:tx.pl=1"
SecRule ARGS:pl "@rx ^\\d$" "id:5,phase:1,pass,nolog,setvar:tx.pl=%{MATCHED_VAR}"
SecRule TX:PL "@lt 2" "id:11,phase:2,pass,nolog,skipAfter:END-PL2"
SecRule ARGS:a "@rx evil" "id:12,phase:2,deny,status:403"
SecMarker END-PL2
""")
    assert 11 in _program_ids(waf, 2) and 12 in _program_ids(waf, 2)
    assert run(waf, "/?a=evil")[1] is None
    _, it = run(waf, "/?a=evil&pl=3")
    assert it is not None and it.rule_id == 12


def test_a_gate_after_a_runtime_exclusion_is_a_jump_it_can_remove(prims: Primitives) -> None:
    waf = make_waf(prims, """
SecAction "id:10,phase:1,pass,nolog,setvar:tx.pl=1"
SecRule ARGS:off "@streq 1" "id:20,phase:1,pass,nolog,ctl:ruleRemoveById=11"
SecRule TX:PL "@lt 2" "id:11,phase:2,pass,nolog,skipAfter:END-PL2"
SecRule ARGS:a "@rx evil" "id:12,phase:2,deny,status:403"
SecMarker END-PL2
""")
    assert waf.spec is not None
    jumps = [(r.id, j) for r, j, *_ in waf.spec.phases[2] if j >= 0]
    assert [rid for rid, _ in jumps] == [11]
    assert run(waf, "/?a=evil")[1] is None
    _, it = run(waf, "/?a=evil&off=1")
    assert it is not None and it.rule_id == 12


def test_engine_off_starts_from_an_empty_tx(prims: Primitives) -> None:
    waf = make_waf(prims, GATED)
    tx: Transaction = waf.new_transaction()
    tx.engine_mode = "Off"
    tx.process_connection("192.0.2.1")
    tx.process_uri("GET", "/", "HTTP/1.1")
    tx.process_request_headers()
    assert tx.tx.get("pl") is None


# scoring as the CRS does it: a request-dependent rule adds to a per-level score, a TX-only
# rule sums the levels and a TX-only rule compares the sum with the threshold
SCORING = """
SecAction "id:1,phase:1,pass,nolog,setvar:tx.score_pl1=0,setvar:tx.score=0,setvar:tx.limit=5"
SecRule ARGS "@rx stop" "id:5,phase:1,deny,status:403"
SecRule ARGS "@rx bad" "id:10,phase:2,pass,log,setvar:tx.score_pl1=+5"
SecAction "id:20,phase:2,pass,nolog,setvar:tx.score=+%{tx.score_pl1},setvar:tx.summed=1"
SecRule TX:SCORE "@ge %{tx.limit}" "id:30,phase:2,deny,status:403,msg:'score %{tx.score}'"
SecRule &TX:GATE "@eq 1" "id:40,phase:2,pass,log,chain"
    SecRule ARGS "@rx ." "setvar:tx.gated=1"
"""


def test_tx_only_rules_replay_their_load_time_result_until_a_key_they_read_is_written(
        prims: Primitives) -> None:
    waf = make_waf(prims, SCORING)
    assert waf.spec is not None
    replayed = {waf.spec.phases[2][i][0].id: r for i, r in waf.spec.replays[2].items()}
    assert set(replayed) == {20, 30, 40}
    # every key it writes, "score" too though its value does not change at load
    assert replayed[20].fired and replayed[20].sets == (("score", "0"), ("summed", "1"))
    assert not replayed[30].fired and not replayed[40].fired
    for w in (waf, _unspecialised(waf)):
        tx, it = run(w, "/?a=fine")
        assert it is None and ids(tx) == []
        assert (tx.tx.get("score"), tx.tx.get("summed")) == ("0", "1")
        tx, it = run(w, "/?a=bad")  # 10 writes score_pl1: 20 and 30 must really run
        assert it is not None and it.rule_id == 30 and ids(tx) == [10, 30]
        assert tx.matched[-1].msg == "score 5"


def test_a_replayed_gate_runs_when_its_key_is_written(prims: Primitives) -> None:
    waf = make_waf(prims, SCORING.replace(
        'SecRule ARGS "@rx bad"', 'SecRule ARGS "@rx open" "id:11,phase:2,pass,nolog,'
        'setvar:tx.gate=1"\nSecRule ARGS "@rx bad"'))
    for w in (waf, _unspecialised(waf)):
        tx, it = run(w, "/?a=open")
        assert it is None and ids(tx) == [40] and tx.tx.get("gated") == "1"


def test_a_replay_reads_the_keys_it_adds_to_but_not_the_ones_it_first_sets(
        prims: Primitives) -> None:
    waf = make_waf(prims, SCORING.replace('SecAction "id:20', '''\
SecRule ARGS "@rx bump" "id:12,phase:2,pass,nolog,setvar:tx.score=+7,setvar:tx.total=9"
SecAction "id:25,phase:2,pass,nolog,setvar:tx.total=%{tx.score_pl1},setvar:tx.total=+1"
SecAction "id:20'''))
    assert waf.spec is not None
    replayed = {waf.spec.phases[2][i][0].id: r for i, r in waf.spec.replays[2].items()}
    assert replayed[20].reads == {"score", "score_pl1"}
    assert replayed[25].reads == {"score_pl1"}
    for w in (waf, _unspecialised(waf)):
        # 12 wrote score (20 adds to it: it must really run) and total (25 sets it outright)
        tx, it = run(w, "/?a=bump")
        assert it is not None and it.rule_id == 30
        assert (tx.tx.get("score"), tx.tx.get("total")) == ("7", "1")


def test_a_replay_reading_a_tx_key_regex_is_dropped_once_a_matching_key_is_written(
        prims: Primitives) -> None:
    waf = make_waf(prims, """
SecRule ARGS "@rx stop" "id:5,phase:1,deny,status:403"
SecRule ARGS:leak "@rx ." "id:10,phase:2,pass,nolog,setvar:tx.leak_%{matched_var}=1"
SecRule ARGS:other "@rx ." "id:11,phase:2,pass,nolog,setvar:tx.other=1"
SecRule &TX:/^LEAK_/ "@ge 1" "id:50,phase:2,pass,log,msg:'leak'"
""")
    assert waf.spec is not None
    replayed = {waf.spec.phases[2][i][0].id: r for i, r in waf.spec.replays[2].items()}
    assert 50 in replayed and not replayed[50].fired
    for w in (waf, _unspecialised(waf)):
        assert ids(run(w, "/?other=1")[0]) == []
        assert ids(run(w, "/?leak=x")[0]) == [50]


# 920450's shape: every header name into a TX key, then a check of those keys against a list
HEADER_NAMES = """
SecAction "id:1,phase:1,pass,nolog,setvar:tx.restricted=/proxy/ /x-evil/,setvar:tx.crit=5"
SecRule REQUEST_HEADERS_NAMES "@rx ^.*$" "id:50,phase:2,block,capture,t:none,t:lowercase,\\
    msg:'restricted header %{matched_var}',setvar:'tx.header_name_%{tx.0}=/%{tx.0}/',chain"
    SecRule TX:/^header_name_/ "@within %{tx.restricted}" "setvar:tx.score=+%{tx.crit}"
SecRule REQUEST_HEADERS:User-Agent "@rx ^.*$" "id:51,phase:1,pass,nolog,t:sha1,t:hexEncode,\\
    setvar:tx.ua_hash=%{matched_var}"
SecRule ARGS "@rx bump" "id:60,phase:1,pass,nolog,setvar:tx.score=+1"
"""


def _memoised(waf: WAF) -> dict[int, int]:
    """Rule id -> how many header sets it remembers."""
    assert waf.spec is not None
    return {waf.spec.phases[p][i][0].id: len(m.results)
            for p, memos in waf.spec.memos.items() for i, m in memos.items()}


def test_header_rules_run_once_per_header_set_then_replay(prims: Primitives) -> None:
    waf = make_waf(prims, HEADER_NAMES)
    plain = _unspecialised(waf)
    assert _memoised(waf) == {50: 0, 51: 0}
    ua = [("Host", "a"), ("User-Agent", "curl/8"), ("Accept", "*/*")]
    for _ in range(3):   # recorded once, then replayed: the same TX either way
        got, want = run(waf, "/", headers=ua)[0], run(plain, "/", headers=ua)[0]
        assert got.tx.items() == want.tx.items() and ids(got) == ids(want) == []
    assert _memoised(waf) == {50: 1, 51: 1}
    assert got.tx.get("header_name_user-agent") == "/user-agent/"
    assert got.tx.get("ua_hash") == want.tx.get("ua_hash") != ""
    other = [("Host", "a"), ("User-Agent", "wget")]
    got, want = run(waf, "/", headers=other)[0], run(plain, "/", headers=other)[0]
    assert got.tx.items() == want.tx.items()
    assert _memoised(waf) == {50: 2, 51: 2}


def test_a_header_set_is_remembered_by_what_the_rule_reads_names_as_sent(
        prims: Primitives) -> None:
    waf = make_waf(prims, HEADER_NAMES)
    plain = _unspecialised(waf)
    sets = [[("Host", "a"), ("User-Agent", "x")],
            [("Host", "a"), ("user-agent", "x")],   # another name as sent: both rules miss
            [("Host", "b"), ("User-Agent", "x")],   # only a value 50 does not read changed
            [("Host", "b"), ("User-Agent", "y")]]   # 51's header changed
    seen = []
    for headers in sets:
        got, want = run(waf, "/", headers=headers)[0], run(plain, "/", headers=headers)[0]
        assert got.tx.items() == want.tx.items()
        assert (got.matched_var, got.matched_var_name) == \
            (want.matched_var, want.matched_var_name)
        seen.append(_memoised(waf))
    assert seen == [{50: 1, 51: 1}, {50: 2, 51: 2}, {50: 2, 51: 2}, {50: 2, 51: 3}]


def test_a_header_rule_that_fires_and_logs_runs_every_time(prims: Primitives) -> None:
    waf = make_waf(prims, HEADER_NAMES)
    evil = [("Host", "a"), ("Proxy", "x")]
    for _ in range(2):
        tx, _ = run(waf, "/", headers=evil)   # block is pass here (SecDefaultAction)
        assert ids(tx) == [50]
        assert tx.matched[0].msg == "restricted header /proxy/" and tx.tx.get("score") == "5"
    assert _memoised(waf)[50] == 0   # a logged match is never replayed


def test_a_header_rule_runs_when_a_key_it_reads_was_written(prims: Primitives) -> None:
    waf = make_waf(prims, HEADER_NAMES)
    headers = [("Host", "a"), ("User-Agent", "curl/8")]
    run(waf, "/", headers=headers)
    # 60 added to tx.score, which 50's chain adds to: the memo does not apply, 50 runs
    tx, _ = run(waf, "/?q=bump", headers=headers + [("Proxy", "x")])
    assert ids(tx) == [50] and tx.tx.get("score") == "6"


def _evaluated(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Ids of the rules evaluated for real (not replayed) from now on."""
    seen: list[int] = []
    real = Transaction._eval_rule

    def spy(self: Transaction, starter: Any) -> bool:
        seen.append(starter.id)
        return real(self, starter)
    monkeypatch.setattr(Transaction, "_eval_rule", spy)
    return seen


def test_a_remembered_miss_is_replayed_after_an_earlier_rule_scored(
        prims: Primitives, monkeypatch: pytest.MonkeyPatch) -> None:
    """50 adds to tx.score only when its chain matches: a header set it did not match is
    replayed even once 60 scored (a request with one CRS warning re-ran 920450, ~30 us)."""
    waf = make_waf(prims, HEADER_NAMES)
    plain = _unspecialised(waf)
    headers = [("Host", "a"), ("User-Agent", "curl/8")]
    run(waf, "/", headers=headers)
    evaluated = _evaluated(monkeypatch)
    got = run(waf, "/?q=bump", headers=headers)[0]
    assert 50 not in evaluated and 60 in evaluated
    want = run(plain, "/?q=bump", headers=headers)[0]
    assert got.tx.items() == want.tx.items() and got.tx.get("score") == "1"


# a header rule that fires quietly and adds to a key another rule may have written
QUIET_FLAGS = """
SecRule REQUEST_HEADERS_NAMES "@rx ^.*$" "id:70,phase:2,pass,nolog,capture,t:none,t:lowercase,\
    setvar:'tx.hn_%{tx.0}=1',chain"
    SecRule TX:/^hn_x-flag$/ "@eq 1" "setvar:tx.flags=+1"
SecRule ARGS "@rx five" "id:71,phase:1,pass,nolog,setvar:tx.flags=+5"
"""


def test_a_remembered_fire_runs_again_once_a_key_its_actions_read_was_written(
        prims: Primitives, monkeypatch: pytest.MonkeyPatch) -> None:
    """A recorded fire replays absolute values: after 71 added to tx.flags, replaying 70's
    ``flags=1`` would lose 71's five, so 70 is evaluated and the sum is 6."""
    waf = make_waf(prims, QUIET_FLAGS)
    plain = _unspecialised(waf)
    headers = [("Host", "a"), ("X-Flag", "on")]
    first = run(waf, "/", headers=headers)[0]
    assert first.tx.get("flags") == "1" and _memoised(waf) == {70: 1}
    evaluated = _evaluated(monkeypatch)
    run(waf, "/", headers=headers)
    assert evaluated == []   # nothing written that 70 reads: replayed
    got = run(waf, "/?a=five", headers=headers)[0]
    assert 70 in evaluated
    want = run(plain, "/?a=five", headers=headers)[0]
    assert got.tx.items() == want.tx.items() and got.tx.get("flags") == "6"


# 949061's and 980120's shape: a TX gate whose message and last actions read a score
SCORED = """
SecAction "id:1,phase:1,pass,nolog,setvar:tx.pl=1,setvar:tx.score=0"
SecRule ARGS "@rx bump" "id:20,phase:2,pass,nolog,setvar:tx.score=+5"
SecRule TX:PL "@ge 2" "id:21,phase:2,pass,log,msg:'score %{tx.score}',setvar:tx.total=+%{tx.score}"
SecRule ARGS "@rx raise" "id:22,phase:2,pass,nolog,setvar:tx.pl=2"
SecRule TX:PL "@ge 2" "id:23,phase:2,pass,log,msg:'score %{tx.score}',setvar:tx.total=+%{tx.score}"
"""


@pytest.mark.parametrize(("uri", "runs", "fired"), [
    ("/?a=bump", [20], []), ("/?a=bump&b=raise", [20, 22, 23], [23]),
    ("/?b=raise", [22, 23], [23])])
def test_a_replay_that_did_not_fire_ignores_what_only_firing_reads(
        prims: Primitives, monkeypatch: pytest.MonkeyPatch, uri: str, runs: list[int],
        fired: list[int]) -> None:
    """21 and 23 read tx.score only in their message and last action, which run only when
    they fire: after 20 scored, their load-time "did not fire" still holds (a CRS warning
    made 949061-949063 and 980100-980130 run again, ~25 us); once 22 wrote tx.pl, what
    decides, 23 runs and fires."""
    waf = make_waf(prims, SCORED)
    evaluated = _evaluated(monkeypatch)
    got = run(waf, uri)[0]
    assert sorted(set(evaluated)) == runs and ids(got) == fired
    want = run(_unspecialised(waf), uri)[0]
    assert got.tx.items() == want.tx.items() and ids(want) == fired
    assert [m.msg for m in got.matched] == [m.msg for m in want.matched]
    if "bump" in uri and fired:
        assert got.matched[0].msg == "score 5" and got.tx.get("total") == "5"


def test_memoised_header_rules_never_change_a_crs_regression_stage(crs_test_waf: WAF) -> None:
    """The corpus twice with memos (the first run records, the second mostly replays), once
    without: every stage fires the same rules with the same outcome."""
    spec = crs_test_waf.spec
    assert spec is not None
    memos = {p: dict(m) for p, m in spec.memos.items()}
    assert {920450, 901318} <= set(_memoised(crs_test_waf))
    cases = ftw.load_tests([VECTORS / "regression-tests" / "v3.3.4"])

    def outcomes() -> list[tuple[str, list[int], str]]:
        return [(r.title, sorted(r.fired), r.outcome)
                for r in ftw.run_tests(crs_test_waf.new_transaction, cases)]
    for m in (m for per_phase in memos.values() for m in per_phase.values()):
        m.results.clear()
    recorded, replayed = outcomes(), outcomes()
    assert sum(len(m.results) for p in memos.values() for m in p.values()) > 10
    for per_phase in spec.memos.values():
        per_phase.clear()
    try:
        plain = outcomes()
    finally:
        for phase, per_phase in memos.items():
            spec.memos[phase].update(per_phase)
    assert len(plain) > 2000
    for run_ in (recorded, replayed):
        assert [(a, b) for a, b in zip(run_, plain, strict=True) if a != b] == []


def test_remembered_header_sets_are_bounded(prims: Primitives,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from bastion.waf.seclang import specialise

    monkeypatch.setattr(specialise, "MEMO_SIZE", 8)
    waf = make_waf(prims, HEADER_NAMES)
    for i in range(30):   # a new User-Agent every request: never more than the bound
        run(waf, "/", headers=[("Host", "a"), ("User-Agent", f"agent/{i}")])
        assert _memoised(waf)[51] <= 8
    waf = make_waf(prims, HEADER_NAMES)
    long_agent = [("Host", "a"), ("User-Agent", "x" * (specialise.MEMO_MAX_CHARS + 1))]
    plain = _unspecialised(waf)
    got, want = run(waf, "/", headers=long_agent)[0], run(plain, "/", headers=long_agent)[0]
    assert got.tx.get("ua_hash") == want.tx.get("ua_hash")
    assert _memoised(waf)[51] == 0   # evaluated, not remembered


def test_a_replayed_header_rule_writes_what_it_wrote_even_values_already_there(
        prims: Primitives) -> None:
    """Recorded while an earlier capture had left tx.0 at the value the rule writes, the
    replay must still write it: in another transaction tx.0 holds something else."""
    waf = make_waf(prims, """
SecRule ARGS:c "@rx ^(.*)$" "id:5,phase:2,pass,nolog,capture,setvar:tx.seen=%{tx.0}"
SecRule REQUEST_HEADERS:User-Agent "@rx ^(.*)$" "id:52,phase:2,pass,nolog,capture,\\
    setvar:tx.ua_copy=%{tx.1}"
SecRule TX:0 "@streq other" "id:60,phase:2,pass,log,msg:'tx.0 is still the argument'"
""")
    plain = _unspecialised(waf)
    agent = [("Host", "a"), ("User-Agent", "curl")]
    for uri in ("/?c=curl", "/?c=other"):   # recorded with tx.0 == "curl", then replayed
        got, want = run(waf, uri, headers=agent)[0], run(plain, uri, headers=agent)[0]
        assert ids(got) == ids(want) == []
        assert got.tx.items() == want.tx.items()
    assert _memoised(waf)[52] == 1


_PATTERN_KEYS = ["leak_a", "LEAK_b", "leak_", "xleak_c", "other", "leak_snap", "Leak_Snap"]


@given(ops=st.lists(st.tuples(st.sampled_from(["set", "delete"]), st.sampled_from(_PATTERN_KEYS)),
                    max_size=12))
@settings(max_examples=200, deadline=None)
def test_tx_key_regexes_select_what_a_scan_of_tx_selects(
        prims: Primitives, ops: list[tuple[str, str]]) -> None:
    """``Transaction.tx_matching`` finds ``TX:/^leak_/`` keys from the snapshot's matches and
    the keys written since, not by scanning TX; whatever was set or deleted, it must select
    the keys a scan selects (or leave it to the scan)."""
    waf = make_waf(prims, 'SecAction "id:1,phase:1,pass,nolog,setvar:tx.leak_snap=1,'
                          'setvar:tx.keep=1"\n')
    assert waf.spec is not None and waf.spec.snapshot.get("leak_snap") == "1"
    pattern = re.compile("^leak_", re.IGNORECASE)
    tx = waf.new_transaction()
    for op, key in ops:
        if op == "set":
            tx.tx.set(key, "v")
        else:
            tx.tx.delete(key)
    scanned = [item for low, item in tx.tx.lowered_items() if pattern.search(item[0])]
    found = tx.tx_matching(pattern, "leak_")
    assert found == scanned or (found is None and len(scanned) > 1)
    target = Target("TX", None, pattern)
    assert variables.generate(tx, target, []) == [(f"TX:{k}", v) for k, v in scanned]


def test_a_capturing_rule_over_tx_keys_nobody_wrote_replays_not_matching(
        prims: Primitives) -> None:
    """922110's shape: one capturing link over ``TX:/regex/`` keys a request-dependent rule
    writes. With none written it cannot match, so it replays; once one is, it runs."""
    waf = make_waf(prims, """
SecRule ARGS:ct "@rx (.*)" "id:10,phase:2,pass,nolog,capture,setvar:'tx.ct_%{tx.1}=%{tx.1}'"
SecRule TX:/^CT_/ "!@rx ^text/plain$" "id:20,phase:2,block,capture,t:lowercase,\\
    msg:'bad %{tx.0}',setvar:tx.bad=+1"
""")
    assert waf.spec is not None
    replayed = {waf.spec.phases[2][i][0].id: r for i, r in waf.spec.replays[2].items()}
    assert 20 in replayed and not replayed[20].fired
    for w in (waf, _unspecialised(waf)):
        assert ids(run(w, "/?other=1")[0]) == []
        tx, _ = run(w, "/?ct=text/plain")
        assert ids(tx) == [] and tx.tx.get("ct_text/plain") == "text/plain"
        tx, _ = run(w, "/?ct=image/png")
        assert ids(tx) == [20] and tx.tx.get("bad") == "1"


def test_a_first_link_whose_capture_writes_at_load_is_not_replayed(prims: Primitives) -> None:
    # the negated regex matches the snapshot's value: the link does not match, but its
    # capture wrote TX.0, which a replay without writes would leave out
    waf = make_waf(prims, """
SecAction "id:1,phase:1,pass,nolog,setvar:tx.mode=strict"
SecRule TX:MODE "!@rx ^(s)trict$" "id:20,phase:2,pass,log,capture"
""")
    assert waf.spec is not None
    assert 20 not in {waf.spec.phases[2][i][0].id for i in waf.spec.replays[2]}
    for w in (waf, _unspecialised(waf)):
        tx, _ = run(w, "/")
        assert ids(tx) == [] and tx.tx.get("0") == "strict" and tx.tx.get("1") == "s"


# CRS 980's shape: phase-5 rules reading TX alone, most of them replays on a clean request
REPORTING = """
SecAction "id:1,phase:1,pass,nolog,setvar:tx.score=0,setvar:tx.limit=5,setvar:tx.level=1"
SecRule ARGS "@rx stop" "id:5,phase:1,deny,status:403"
SecRule ARGS "@rx bad" "id:10,phase:2,pass,log,setvar:tx.score=+5"
SecRule ARGS "@rx mark" "id:11,phase:2,pass,nolog,setvar:tx.flag_x=1"
SecRule TX:SCORE "@ge %{tx.limit}" "id:50,phase:5,pass,log,msg:'over %{tx.score}'"
SecAction "id:51,phase:5,pass,nolog,setvar:tx.report=%{tx.score}"
SecRule TX:LEVEL "@eq 1" "id:52,phase:5,pass,nolog,setvar:tx.seen=1"
SecRule &TX:/^FLAG_/ "@ge 1" "id:53,phase:5,pass,log,msg:'flagged'"
SecAction "id:54,phase:5,pass,nolog,setvar:tx.level=2"
SecRule TX:LEVEL "@eq 2" "id:55,phase:5,pass,log,msg:'two'"
SecRule TX:REPORT "@eq 0" "id:56,phase:5,pass,nolog,setvar:tx.quiet=1"
"""


def _folded(waf: WAF, phase: int) -> list[list[int]]:
    assert waf.spec is not None
    return [[waf.spec.phases[phase][i][0].id for i in f.indices]
            for f in waf.spec.folds.get(phase, {}).values()]


def _unfolded(waf: WAF) -> WAF:
    plain = WAF(waf.rules, waf.settings, clock=waf.clock, accel=waf.accel)
    assert plain.spec is not None
    plain.spec.folds.clear()
    return plain


def test_consecutive_replays_fold_until_one_changes_what_a_later_one_reads(
        prims: Primitives) -> None:
    # 54 sets tx.level to 2 where the snapshot holds 1, and 55 reads it: replayed one by one,
    # 54's write makes 55 run for real, so 55 must not be judged "valid" with 54 in one fold
    waf = make_waf(prims, REPORTING)
    assert _folded(waf, 5) == [[50, 51, 52, 53, 54], [55, 56]]


@pytest.mark.parametrize("uri", ["/?a=fine", "/?a=bad", "/?a=mark", "/?a=bad&b=mark"])
def test_folded_replays_do_what_replaying_them_one_by_one_does(
        prims: Primitives, uri: str) -> None:
    waf = make_waf(prims, REPORTING)
    outcomes = []
    for w in (waf, _unfolded(waf), _unspecialised(waf)):
        tx, it = run(w, uri)
        outcomes.append((it, ids(tx), sorted(tx.tx.lowered_items()), tx.matched_var,
                         tx.tx.written if w.spec is not None else None))
    # the unspecialised engine tracks no writes; everything else must be equal
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][:4] == outcomes[2][:4]
    # 51 always changes tx.report (unset at load), so 56 runs for real: it fires at score 0
    assert dict(outcomes[0][2]).get("quiet") == (None if "bad" in uri else ("quiet", "1"))


def test_folded_replays_never_change_a_crs_regression_stage(crs_test_waf: WAF) -> None:
    spec = crs_test_waf.spec
    assert spec is not None
    assert [980100, 980110, 980115, 980120, 980130, 980140, 980145, 980150] in \
        _folded(crs_test_waf, 5)
    cases = ftw.load_tests([VECTORS / "regression-tests" / "v3.3.4"])

    def outcomes() -> list[tuple[str, list[int], str]]:
        return [(r.title, sorted(r.fired), r.outcome)
                for r in ftw.run_tests(crs_test_waf.new_transaction, cases)]
    folded = outcomes()
    saved = {p: dict(f) for p, f in spec.folds.items()}
    spec.folds.clear()
    try:
        plain = outcomes()
    finally:
        spec.folds.update(saved)
    assert len(plain) > 2000
    assert [(a, b) for a, b in zip(folded, plain, strict=True) if a != b] == []


def test_a_request_cannot_grow_its_transformation_memory_past_the_bound(
        prims: Primitives, monkeypatch: pytest.MonkeyPatch) -> None:
    from bastion.waf.seclang import transaction

    monkeypatch.setattr(transaction, "_MAX_TFN_ENTRIES", 30)
    waf = make_waf(prims, """
SecRule ARGS "@rx evil" "id:1,phase:1,pass,log,t:lowercase,t:urlDecode"
SecRule ARGS "@rx worse" "id:2,phase:2,pass,log,t:removeWhitespace"
""")
    tx = waf.new_transaction()
    tx.process_connection("192.0.2.1", 1234)
    tx.process_uri("GET", "/?" + "&".join(f"a{i}=V{i}" for i in range(40)), "HTTP/1.1")

    def kept() -> int:
        return sum(map(len, tx._tfn_cache.values())) + sum(map(len, tx._tfn_memo.values()))
    tx.process_request_headers()
    after_one = kept()
    assert after_one == tx._tfn_entries and after_one > 30   # counted as they are added
    tx.process_request_body(b"")   # over the bound: phase 2 starts from empty memories
    assert kept() == tx._tfn_entries < after_one
