"""@rx: ModSecurity v2 flags, captures, macros, the match limit and the prefilter helpers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bastion.waf.seclang import operators
from bastion.waf.seclang.operators import OperatorError, OperatorOptions
from bastion.waf.seclang.operators.rx import RxOperator, log_escape_re, pattern_of
from tests.waf.seclang.stub_tx import StubTx

OPTS = OperatorOptions(base_dir=Path("."))


def rx(pattern: str, **kwargs: int) -> RxOperator:
    op = operators.get("rx")(pattern, OperatorOptions(base_dir=Path("."), **kwargs))
    assert isinstance(op, RxOperator)
    return op


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("a.b", "a\nb", True),  # DOTALL
        ("a$", "a\n", False),  # DOLLAR_ENDONLY: $ is only the very end
        ("a$", "a", True),
        ("^b", "a\nb", False),  # no MULTILINE
        ("ABC", "abc", False),  # no implicit caseless
        ("(?i)ABC", "abc", True),
        ("^\\xe9$", "\xe9", True),  # byte semantics, no UTF mode
        ("[\xc2\xb4]", "\xb4", True),  # UTF-8 bytes in a class are two bytes
        ("\\w", "\xe9", False),  # \w is ASCII-only on bytes
        ("\\z", "", True),
    ],
)
def test_modsecurity_v2_flags(pattern: str, value: str, expected: bool) -> None:
    assert rx(pattern).evaluate(StubTx(), value) is expected


def test_bad_pattern_is_a_load_error() -> None:
    with pytest.raises(OperatorError, match="cannot compile"):
        rx("(unclosed")


def test_captures_whole_match_and_groups() -> None:
    tx = StubTx(capture=True)
    assert rx("(a+)(x)?(b)").evaluate(tx, "zzaab")
    assert tx.captures == [["aab", "aa", "", "b"]]


def test_captures_stop_at_highest_group_that_took_part() -> None:
    tx = StubTx(capture=True)
    assert rx("(a)|(b)(c)?").evaluate(tx, "b")
    assert tx.captures == [["b", "", "b"]]


def test_no_captures_without_capture_action() -> None:
    tx = StubTx(capture=False)
    assert rx("(a)").evaluate(tx, "a")
    assert tx.captures == []


def test_no_captures_when_group_ten_or_more_took_part() -> None:
    # v2 passes a 30-int ovector: PCRE then returns 0 and v2 sets no TX.n at all.
    pattern = "".join(f"({c})" for c in "abcdefghijk")
    tx = StubTx(capture=True)
    assert rx(pattern).evaluate(tx, "abcdefghijk")
    assert tx.captures == []


def test_capture_values_are_bytes_as_latin1() -> None:
    tx = StubTx(capture=True)
    assert rx("(\xc3\xa9+)").evaluate(tx, "x\xc3\xa9")
    assert tx.captures == [["\xc3\xa9", "\xc3\xa9"]]


def test_macro_pattern_is_expanded_escaped_and_cached() -> None:
    op = rx("^%{tx.charset}$")
    assert op.dynamic and pattern_of(op) is None
    tx = StubTx({"tx.charset": "utf-8|iso-8859-1"})
    # v2 runs log_escape_re over the expanded text: '.' etc. become literal, '|' stays.
    assert op.evaluate(tx, "utf-8")
    assert op.evaluate(tx, "xxiso-8859-1")
    assert not op.evaluate(tx, "utf-16")
    assert len(op._cache) == 1
    assert op.evaluate(StubTx({"tx.charset": "a.c"}), "a.c")
    assert not op.evaluate(StubTx({"tx.charset": "a.c"}), "abc")


def test_any_percent_brace_makes_the_pattern_dynamic_like_v2() -> None:
    op = rx("a%{b")
    assert op.dynamic
    assert op.evaluate(StubTx(), "a%{b")


def test_log_escape_re() -> None:
    assert log_escape_re('a.b:c"d\\e\x01\xff/') == 'a\\.b\\:c\\"d\\\\e\\x01\\xff\\/'


def test_match_limit_is_no_match_and_counted() -> None:
    op = rx("^(a|aa)+$", match_limit=1000)
    tx = StubTx()
    started = time.monotonic()
    assert op.evaluate(tx, "a" * 5000 + "b") is False
    assert time.monotonic() - started < 5
    assert op.limit_hits == 1
    assert tx.limit_notes == 1


def test_default_limit_bounds_catastrophic_backtracking() -> None:
    op = rx("(a+)+$")
    started = time.monotonic()
    assert op.evaluate(StubTx(), "a" * 50_000 + "b") is False
    assert time.monotonic() - started < 5
    assert op.limit_hits == 1


def test_jit_stack_overflow_falls_back_to_the_interpreter() -> None:
    # v2.9.7 with PCRE2 reruns a match without JIT when the JIT stack is too small.
    op = rx("^(a|aa)+$")
    assert op.evaluate(StubTx(), "a" * 20_000)
    started = time.monotonic()
    assert op.evaluate(StubTx(), "a" * 50_000 + "b") is False
    assert time.monotonic() - started < 5
    assert op.limit_hits == 1


def test_limit_does_not_break_normal_matches() -> None:
    op = rx("^(a|aa)+$", match_limit=1000)
    assert op.evaluate(StubTx(), "aaaa")
    assert op.limit_hits == 0


def test_prefilter_helpers() -> None:
    op = rx("foo\\d+")
    assert pattern_of(op) == "foo\\d+"
    assert op.regex_source == "foo\\d+"
    assert op.match_all("xfoo12") and not op.match_all("foo")
    assert op.matches("xfoo12")
    other = operators.get("streq")("x", OPTS)
    assert pattern_of(other) is None
    with pytest.raises(ValueError):
        rx("%{tx.a}").match_all("x")


def test_remembered_results_give_the_same_captures_and_never_hide_a_limit_hit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from bastion.waf.seclang.operators import rx as rx_module

    monkeypatch.setattr(rx_module, "_MEMO_SIZE", 3)
    op = rx("^(a+)(b)?(c)$", match_limit=1000)
    first, second = StubTx(capture=True), StubTx(capture=True)
    assert op.evaluate(first, "aac") and op.evaluate(second, "aac")
    assert first.captures == second.captures == [["aac", "aa", "", "c"]]
    assert not op.evaluate(StubTx(capture=True), "xyz")
    many = rx("(" * 11 + "x" + ")" * 11)  # 11 groups: v2 sets no captures at all
    quiet = StubTx(capture=True)
    assert many.evaluate(quiet, "x") and many.evaluate(quiet, "x")
    assert quiet.captures == []
    for i in range(10):  # the memory stays bounded
        op.evaluate(StubTx(), "a" * i + "c")
        assert len(op._memo) <= 3
    slow = rx("^(a|aa)+$", match_limit=1000)
    notes = StubTx()
    for _ in range(2):  # a limit hit is noted in every transaction that meets the value
        assert slow.evaluate(notes, "a" * 300 + "b") is False
    assert notes.limit_notes == 2 and slow.limit_hits == 2
