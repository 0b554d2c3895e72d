"""Value screening must never change a decision: it only passes over rules that cannot match.

The whole CRS regression corpus runs with and without screening and every stage must fire the
same rules with the same outcome; small rule sets pin the cases screening has to respect
(skip counts, negated operators, exclusions, XML, remembered answers and their bounds).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bastion.waf.seclang import ftw, screen
from bastion.waf.seclang.registry import Primitives
from bastion.waf.seclang.waf import WAF

from .conftest import VECTORS, make_waf
from .test_engine import ids, run


def test_screening_never_changes_a_crs_regression_stage(
        crs_test_waf: WAF, monkeypatch: pytest.MonkeyPatch) -> None:
    cases = ftw.load_tests([VECTORS / "regression-tests" / "v3.3.4"])
    assert crs_test_waf.screens  # the CRS has screenable rules in phases 1 and 2 at least
    screened = ftw.run_tests(crs_test_waf.new_transaction, cases)
    monkeypatch.setattr(crs_test_waf, "screens", {})
    plain = ftw.run_tests(crs_test_waf.new_transaction, cases)
    assert len(screened) == len(plain) > 2000
    diff = [(a.title, sorted(a.fired), sorted(b.fired), a.outcome, b.outcome)
            for a, b in zip(screened, plain, strict=True)
            if (sorted(a.fired), a.outcome) != (sorted(b.fired), b.outcome)]
    assert diff == []


def _waf(prims: Primitives, cache: Path, text: str) -> WAF:
    return make_waf(prims, text, hyperscan=True, cache_dir=cache)


def _both(waf: WAF, uri: str, **kw: object) -> list[int]:
    """Matched ids with screening, after checking they equal the unscreened run's."""
    tx, it = run(waf, uri, **kw)  # type: ignore[arg-type]
    screens, waf.screens = waf.screens, {}
    try:
        tx2, it2 = run(waf, uri, **kw)  # type: ignore[arg-type]
    finally:
        waf.screens = screens
    assert (ids(tx), it) == (ids(tx2), it2)
    return ids(tx)


def test_a_rule_screened_out_still_counts_for_skip(prims: Primitives, tmp_path: Path) -> None:
    waf = _waf(prims, tmp_path, """
SecRule ARGS "@rx first" "id:1,phase:2,pass,log,skip:1"
SecRule ARGS "@rx nomatch" "id:2,phase:2,pass,log"
SecRule ARGS "@rx third" "id:3,phase:2,pass,log"
""")
    assert waf.screens[2].screened
    # rule 2 is screened out, but skip:1 must still consume it, not rule 3
    assert _both(waf, "/?a=first&b=third") == [1, 3]
    assert _both(waf, "/?a=third") == [3]


def test_negated_and_pure_operators_are_screened_exactly(prims: Primitives, tmp_path: Path) -> None:
    waf = _waf(prims, tmp_path, """
SecRule REQUEST_HEADERS:User-Agent "!@rx ^mozilla" "id:1,phase:1,pass,log,t:lowercase"
SecRule ARGS "@pm alpha beta" "id:2,phase:2,pass,log"
SecRule ARGS "@detectSQLi" "id:3,phase:2,pass,log,t:urlDecodeUni"
SecRule REQUEST_URI "@validateByteRange 32-126" "id:4,phase:2,pass,log,t:urlDecodeUni"
SecRule ARGS_NAMES "@streq token" "id:5,phase:2,pass,log"
""")
    moz = [("Host", "x"), ("User-Agent", "Mozilla/5.0")]
    # a literal key is its own source: Host's value does not make rule 1 a candidate
    assert [p.source for p in waf.screens[1].sources] == [("REQUEST_HEADERS", "user-agent")]
    tx = waf.new_transaction()
    tx.process_uri("GET", "/", "HTTP/1.1")
    for k, v in moz:
        tx.add_request_header(k, v)
    assert waf.screens[1].candidates(tx) == set()
    assert _both(waf, "/?q=hello", headers=moz) == []
    assert _both(waf, "/?q=hello", headers=[("Host", "x"), ("User-Agent", "curl")]) == [1]
    assert _both(waf, "/?q=gamma%20beta", headers=moz) == [2]
    assert _both(waf, "/?id=1'%20or%201=1--", headers=moz) == [3]
    assert _both(waf, "/a%01b", headers=moz) == [4]
    assert _both(waf, "/?token=1", headers=moz) == [5]


def test_exclusions_and_key_selectors_still_apply_to_screened_in_rules(
        prims: Primitives, tmp_path: Path) -> None:
    waf = _waf(prims, tmp_path, """
SecRule ARGS:q|!ARGS:skip "@rx evil" "id:1,phase:2,pass,log"
SecRule REQUEST_COOKIES|!REQUEST_COOKIES:/^__utm/ "@rx evil" "id:2,phase:2,pass,log"
""")
    # the screen sees "evil" in ARGS, but rule 1 only reads ARGS:q
    assert _both(waf, "/?other=evil") == []
    assert _both(waf, "/?skip=evil") == []
    assert _both(waf, "/?q=evil") == [1]
    assert _both(waf, "/", headers=[("Host", "x"), ("Cookie", "__utma=evil")]) == []
    assert _both(waf, "/", headers=[("Host", "x"), ("Cookie", "s=evil")]) == [2]


def test_a_ctl_that_changes_variables_rescreens_the_phase(
        prims: Primitives, tmp_path: Path) -> None:
    waf = _waf(prims, tmp_path, """
SecRequestBodyAccess On
SecRule REQUEST_METHOD "@streq POST" "id:1,phase:2,pass,nolog,ctl:forceRequestBodyVariable=On"
SecRule REQUEST_BODY "@rx evil" "id:2,phase:2,pass,log"
""")
    hdrs = [("Host", "x"), ("Content-Type", "text/plain")]
    # REQUEST_BODY is empty (unset) when rule 2's phase starts; the ctl in the same phase makes
    # it readable, so the screen's answer computed before the ctl must not be reused
    assert _both(waf, "/", method="POST", headers=hdrs, body=b"so evil") == [2]


def test_a_ctl_rescreens_only_for_the_variables_it_changes(
        prims: Primitives, tmp_path: Path) -> None:
    waf = _waf(prims, tmp_path, """
SecRule REQUEST_METHOD "@streq GET" "id:1,phase:1,pass,nolog,ctl:forceRequestBodyVariable=On"
SecRule REQBODY_PROCESSOR "@streq JSON" "id:2,phase:1,pass,log"
SecRule REQUEST_METHOD "@streq GET" "id:3,phase:1,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQBODY_PROCESSOR "@streq JSON" "id:4,phase:1,pass,log"
""")
    # forcing REQUEST_BODY leaves REQBODY_PROCESSOR's answer standing (rule 2 stays out);
    # the processor ctl changes it, so rule 4, screened out before it, runs and matches
    assert _both(waf, "/") == [4]


def test_remembered_answers_are_bounded(prims: Primitives, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(screen, "MAX_REMEMBERED", 4)
    monkeypatch.setattr(screen, "MAX_REMEMBERED_LEN", 10)
    waf = _waf(prims, tmp_path, 'SecRule ARGS "@rx evil" "id:1,phase:2,pass,log"')
    memory = waf.screens[2]._memory
    for i in range(20):
        assert _both(waf, f"/?a=v{i}") == []
        assert sum(map(len, memory)) <= 4
    assert _both(waf, "/?a=" + "x" * 11) == []
    assert all(len(value) <= 10 for m in memory for value in m)
    # a remembered answer is reused: the same value screens the same way again
    assert _both(waf, "/?a=evil") == [1]
    assert _both(waf, "/?a=evil") == [1]


def test_multimatch_rules_are_screened_on_every_intermediate_value(
        prims: Primitives, tmp_path: Path) -> None:
    waf = _waf(prims, tmp_path, """
SecRule ARGS "@rx ^A B$" "id:1,phase:2,pass,log,t:urlDecodeUni,t:lowercase,multiMatch"
SecRule ARGS "@rx ^A B$" "id:2,phase:2,pass,log,t:urlDecodeUni,t:lowercase"
SecRule ARGS "@detectXSS" "id:3,phase:2,pass,log,t:base64Decode,multiMatch"
""")
    assert {1, 2, 3} <= {waf.spec.phases[2][i][0].id  # type: ignore[union-attr]
                         for i in waf.screens[2].screened}
    # only the middle value ("A B", after urlDecodeUni, before lowercase) matches
    assert _both(waf, "/?a=A%2520B") == [1]
    assert _both(waf, "/?a=a%2520b") == []
    assert _both(waf, "/?a=PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg") == [3]


JUMPS = """
SecAction "id:1,phase:1,pass,nolog,setvar:tx.pl=1"
SecRule ARGS "@rx stop" "id:5,phase:1,deny,status:403"
SecRule ARGS "@rx unlock" "id:20,phase:2,pass,nolog,ctl:ruleRemoveById=11"
SecRule TX:PL "@lt 2" "id:11,phase:2,pass,nolog,skipAfter:END-PL2"
SecRule ARGS "@rx evil" "id:12,phase:2,pass,log"
SecMarker END-PL2
SecRule ARGS "@rx evil" "id:13,phase:2,pass,log,skipAfter:END-X"
SecRule ARGS "@rx evil" "id:14,phase:2,pass,log"
SecMarker END-X
SecRule ARGS "@rx evil" "id:15,phase:2,pass,log"
SecRule ARGS "@rx evil" "id:16,phase:2,pass,log,skipAfter:NO-SUCH-MARKER"
SecRule ARGS "@rx evil" "id:17,phase:2,pass,log"
"""


@pytest.mark.parametrize(("uri", "expected"), [
    ("/?a=evil", [13, 15, 16]),
    # the ctl removes the gate in the same phase: its range must run after all
    ("/?a=evil&b=unlock", [12, 13, 15, 16]),
])
def test_jumps_and_skip_after_agree_with_the_full_rule_list(
        prims: Primitives, tmp_path: Path, uri: str, expected: list[int]) -> None:
    waf = _waf(prims, tmp_path, JUMPS)
    assert waf.spec is not None
    assert [r.id for r, j, *_ in waf.spec.phases[2] if j >= 0] == [11]  # a jump, not folded
    assert _both(waf, uri) == expected
    plain = WAF(waf.rules, waf.settings, clock=waf.clock, accel=waf.accel)
    plain.spec = None
    plain.screens = {}
    tx, _ = run(plain, uri)
    assert ids(tx) == expected


def test_counts_are_screened_exactly(prims: Primitives, tmp_path: Path) -> None:
    waf = _waf(prims, tmp_path, """
SecRule &REQUEST_HEADERS:Host "@eq 0" "id:1,phase:1,pass,log"
SecRule &ARGS "@gt 2" "id:2,phase:2,pass,log"
SecRule &ARGS|!ARGS:x "@gt 2" "id:3,phase:2,pass,log"
""")
    assert 3 not in {waf.spec.phases[2][i][0].id  # type: ignore[union-attr]
                     for i in waf.screens[2].screened}  # an exclusion lowers the count
    assert _both(waf, "/?a=1&b=2", headers=[("Host", "x")]) == []
    assert _both(waf, "/?a=1&b=2&x=3", headers=[("X-Other", "x")]) == [1, 2]
    assert _both(waf, "/?a=1&b=2&c=3&x=4", headers=[("Host", "x")]) == [2, 3]


def test_a_chain_is_a_candidate_only_when_every_screenable_link_can_match(
        prims: Primitives, tmp_path: Path) -> None:
    waf = _waf(prims, tmp_path, """
SecRule REQUEST_METHOD "@rx ^(?:GET|HEAD)$" "id:1,phase:2,pass,log,chain"
    SecRule REQUEST_HEADERS:Content-Length "!@rx ^0?$" "chain"
    SecRule &REQUEST_HEADERS:Transfer-Encoding "@eq 0"
SecRule TX:never "@eq 1" "id:2,phase:2,pass,log,chain"
    SecRule ARGS "@rx evil"
""")
    screen = waf.screens[2]
    assert screen.screened == {0, 1}  # rule 2 is judged on its second link alone
    tx = waf.new_transaction()
    tx.process_uri("GET", "/?a=evil", "HTTP/1.1")
    tx.add_request_header("Host", "x")
    # GET matches the starter, but there is no Content-Length for the second link; rule 2's
    # second link matches, but its TX:never gate cannot open while nothing writes that key
    assert screen.candidates(tx) == set()
    assert _both(waf, "/") == []
    assert _both(waf, "/", headers=[("Host", "x"), ("Content-Length", "5")]) == [1]
    assert _both(waf, "/", method="POST", headers=[("Host", "x"), ("Content-Length", "5")]) \
        == []
    assert _both(waf, "/?a=evil") == []  # TX:never is unset: rule 2 still cannot fire


def test_a_chain_whose_first_link_acts_or_whose_matches_can_be_read_is_judged_on_its_start(
        prims: Primitives, tmp_path: Path) -> None:
    acting = _waf(prims, tmp_path, """
SecRule ARGS "@rx a" "id:1,phase:2,pass,log,setvar:tx.seen=1,chain"
    SecRule REQUEST_METHOD "@streq POST"
SecRule TX:seen "@eq 1" "id:2,phase:2,pass,log"
""")
    # the starter's setvar happens even though the POST link fails: rule 1 must run
    assert _both(acting, "/?x=a") == [2]
    reading = _waf(prims, tmp_path, """
SecRule ARGS "@rx a" "id:1,phase:2,pass,log,chain"
    SecRule REQUEST_METHOD "@streq POST"
SecAction "id:2,phase:2,pass,log,msg:'last match %{MATCHED_VAR}'"
""")
    assert reading.screens[2]._needs == {}  # only starters are judged
    tx, _ = run(reading, "/?x=a")
    assert ids(tx) == [2] and tx.matched[0].msg == "last match a"


MACROS = """
SecAction "id:1,phase:1,pass,nolog,setvar:tx.allowed=GET HEAD"
SecRule ARGS "@rx stop" "id:5,phase:1,deny,status:403"
SecRule ARGS:widen "@rx ." "id:6,phase:1,pass,nolog,setvar:tx.allowed=GET HEAD PUT"
SecRule REQUEST_METHOD "!@within %{tx.allowed}" "id:10,phase:2,pass,log"
"""


@pytest.mark.parametrize(("method", "uri", "expected"), [
    ("GET", "/", []),
    ("PUT", "/", [10]),
    ("PUT", "/?widen=1", []),  # phase 1 wrote tx.allowed: the snapshot's answer is void
    ("POST", "/?widen=1", [10]),
])
def test_operator_macros_of_tx_keys_are_screened_with_snapshot_values(
        prims: Primitives, tmp_path: Path, method: str, uri: str, expected: list[int]) -> None:
    waf = _waf(prims, tmp_path, MACROS)
    assert waf.spec is not None
    rule10 = next(i for i, (r, *_) in enumerate(waf.spec.phases[2]) if r.id == 10)
    assert rule10 in waf.screens[2].screened
    assert _both(waf, uri, method=method) == expected


def test_a_rule_of_the_phase_that_may_write_the_key_keeps_the_operator_unscreened(
        prims: Primitives, tmp_path: Path) -> None:
    waf = _waf(prims, tmp_path, MACROS.replace("id:6,phase:1", "id:6,phase:2"))
    assert waf.spec is not None
    rule10 = next(i for i, (r, *_) in enumerate(waf.spec.phases[2]) if r.id == 10)
    assert rule10 not in waf.screens[2].screened
    assert _both(waf, "/?widen=1", method="PUT") == []


def test_patterns_that_match_any_value_stay_out_of_the_hyperscan_database(
        prims: Primitives, tmp_path: Path) -> None:
    waf = _waf(prims, tmp_path, """
SecRule REQUEST_HEADERS_NAMES "@rx ^.*$" "id:1,phase:2,pass,log,capture,setvar:tx.n=%{tx.0}"
SecRule ARGS "@rx evil" "id:2,phase:2,pass,log"
""")
    one, two = (waf.rule(i) for i in (1, 2))
    assert one is not None and two is not None
    assert waf.accel.lookup(one) is None and waf.accel.lookup(two) is not None
    assert _both(waf, "/?a=evil") == [1, 2]
    tx, _ = run(waf, "/")
    assert ids(tx) == [1] and tx.tx.get("n") == "Host"


def test_unique_values_cannot_grow_the_shared_scan_results_past_their_bound(
        prims: Primitives, tmp_path: Path) -> None:
    waf = _waf(prims, tmp_path, 'SecRule ARGS "@rx evil" "id:1,phase:2,pass,log"')
    tx = waf.new_transaction()
    for i in range(25_000):
        tx.accel_scan(0, f"value-{i}")
        assert sum(map(len, waf.scan_memory.values())) == waf.scan_remembered <= 20_000
    tx.accel_scan(0, "x" * 5000)  # long values are kept for the transaction only
    assert all(len(v) <= 1024 for m in waf.scan_memory.values() for v in m)


# 920360's shape: a TX gate no request opens at PL1, then a screenable link over ARGS_NAMES
GATED_CHAIN = """
SecAction "id:1,phase:1,pass,nolog,setvar:tx.limit=1"
SecRule ARGS "@rx stop" "id:2,phase:1,deny,status:403"
SecRule ARGS:open "@rx ." "id:3,phase:1,pass,nolog,setvar:tx.name_length=3"
SecRule ARGS:off "@rx ." "id:4,phase:1,pass,nolog,ctl:ruleRemoveTargetById=11;TX:limit"
SecRule &TX:NAME_LENGTH "@eq 1" "id:10,phase:2,pass,log,chain"
    SecRule ARGS_NAMES "@gt 0" "t:length"
SecRule &TX:LIMIT "@eq 0" "id:11,phase:2,pass,log,chain"
    SecRule ARGS_NAMES "@rx ^long"
SecRule ARGS:late "@rx ." "id:5,phase:2,pass,nolog,setvar:tx.late=1"
SecRule &TX:LATE "@eq 1" "id:12,phase:2,pass,log,chain"
    SecRule ARGS_NAMES "@rx ."
"""


@pytest.mark.parametrize(("uri", "judged", "fired"), [
    ("/?longname=1", set(), []),   # the later links match, the gates stay shut
    ("/?open=1", {10}, [10]),   # 3 wrote the key 10's gate reads
    # an exclusion emptied &TX:LIMIT, so 11's gate opens: with target exclusions no gate
    # is trusted (the loop does not replay then either)
    ("/?off=1&longname=1", {10, 11}, [11]),
    # 5 opens 12's gate in the phase screening answers for before it runs: not a gate
    ("/?late=1", set(), [12]),
])
def test_a_rule_whose_tx_gate_cannot_open_is_no_candidate(
        prims: Primitives, tmp_path: Path, uri: str, judged: set[int], fired: list[int]
        ) -> None:
    waf = _waf(prims, tmp_path, GATED_CHAIN)
    assert waf.spec is not None
    gated = {waf.spec.phases[2][i][0].id for i in waf.screens[2]._gated}
    assert gated == {10, 11}
    tx, _ = run(waf, uri)
    candidates = waf.screens[2].candidates(tx)   # as phase 2 saw it (nothing wrote since)
    assert {waf.spec.phases[2][i][0].id for i in candidates} & gated == judged
    assert _both(waf, uri) == fired


def test_collections_screening_passes_over_as_always_empty_are_empty(prims: Primitives,
                                                               tmp_path: Path) -> None:
    from bastion.waf.seclang import variables

    waf = _waf(prims, tmp_path, 'SecRequestBodyAccess On\n'
               'SecRule GEO|ENV|FILES_TMPNAMES "@rx ." "id:1,phase:2,deny"')
    body = (b'--b\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n\r\n'
            b'data\r\n--b--\r\n')
    tx, it = run(waf, "/?a=1", method="POST", body=body, headers=[
        ("Host", "x"), ("Content-Type", "multipart/form-data; boundary=b"),
        ("Content-Length", str(len(body)))])
    assert it is None and tx.files.pairs   # a file was uploaded, and still nothing
    for name in variables.ALWAYS_EMPTY:
        assert list(variables.COLLECTIONS[name](tx)) == []


def test_values_that_can_match_nothing_share_one_remembered_answer(prims: Primitives,
                                                                    tmp_path: Path) -> None:
    """Remembered answers are kept across requests: a new empty set per new value was a
    tracked object the cyclic collector had to visit, for nothing (most values hit none)."""
    waf = _waf(prims, tmp_path, 'SecRule ARGS "@rx evil" "id:1,phase:2,deny,status:403"')
    tx, _ = run(waf, "/?a=fine")
    scr = waf.screens[2]
    si = next(i for i, p in enumerate(scr.sources) if p.source == ("ARGS", None))
    answers = [scr._answer(tx, si, f"fine-{i}") for i in range(50)]
    assert all(a is screen._NOTHING for a in answers)
    assert scr._answer(tx, si, "so evil") == {0}
