"""Load-time specialisation must never change a decision: the folded program and the full rule
list agree, including when exclusions remove a folded rule and when a request-dependent rule
writes a key a gate reads."""

from __future__ import annotations

import pytest

from bastion.waf.seclang.registry import Primitives
from bastion.waf.seclang.transaction import Transaction
from bastion.waf.seclang.waf import WAF

from .conftest import make_waf
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
    assert replayed[20].fired and replayed[20].sets == (("summed", "1"),)
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
