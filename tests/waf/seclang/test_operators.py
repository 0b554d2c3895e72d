"""Operators beyond the unit vectors: macros, captures, data files, load errors, registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.waf.seclang import operators
from bastion.waf.seclang.operators import (
    OperatorError,
    OperatorOptions,
    UnsupportedOperatorError,
)
from bastion.waf.seclang.operators.acmp import PhraseMatcher
from bastion.waf.seclang.operators.pm_content import PmContentError, parse_pm_content
from tests.waf.seclang.stub_tx import StubTx

OPTS = OperatorOptions(base_dir=Path("."))


def evaluate(name: str, argument: str, value: str, tx: StubTx | None = None) -> bool:
    return operators.get(name)(argument, OPTS).evaluate(tx or StubTx(), value)


CRS_OPERATORS = [
    "rx", "pm", "pmFromFile", "pmf", "beginsWith", "endsWith", "contains", "containsWord",
    "within", "streq", "strmatch", "eq", "ge", "gt", "le", "lt", "ipMatch", "ipMatchF",
    "ipMatchFromFile", "detectSQLi", "detectXSS", "validateByteRange", "validateUrlEncoding",
    "validateUtf8Encoding", "unconditionalMatch", "noMatch", "verifyCC",
]


def test_registry_names_and_case() -> None:
    assert set(CRS_OPERATORS) <= set(operators.names())
    assert operators.get("RX") is operators.get("rx")
    with pytest.raises(KeyError):
        operators.get("nope")


@pytest.mark.parametrize("name", ["rbl", "geoLookup", "gsbLookup", "inspectFile",
                                  "validateDTD", "validateSchema"])
def test_unsupported_operators_refuse_to_load(name: str) -> None:
    with pytest.raises(UnsupportedOperatorError, match="not supported"):
        operators.get(name)("x", OPTS)


@pytest.mark.parametrize(
    ("name", "argument", "value", "expected"),
    [
        ("within", "%{tx.allowed_methods}", "GET", True),
        ("within", "%{tx.allowed_methods}", "PUT", False),
        ("streq", "%{tx.x}", "abc", True),
        ("streq", "%{tx.x}", "abd", False),
        ("beginsWith", "%{tx.x}", "abcdef", True),
        ("endsWith", "/%{tx.x}", "x/abc", True),
        ("contains", "%{tx.x}", "xxabcxx", True),
        ("containsWord", "%{tx.x}", "a abc b", True),
        ("eq", "%{tx.n}", "5", True),
        ("gt", "%{tx.n}", "6", True),
        ("lt", "%{tx.n}", "6", False),
        ("ge", "%{tx.missing}", "0", True),
        ("le", "%{tx.n}", " 5xyz", True),
    ],
)
def test_macro_arguments(name: str, argument: str, value: str, expected: bool) -> None:
    tx = StubTx({"tx.allowed_methods": "GET HEAD POST OPTIONS", "tx.x": "abc", "tx.n": "5"})
    assert evaluate(name, argument, value, tx) is expected
    assert tx.expansions == 1


def test_static_arguments_are_not_expanded() -> None:
    tx = StubTx()
    assert evaluate("streq", "abc", "abc", tx)
    assert evaluate("eq", "5", "5", tx)
    assert tx.expansions == 0


def test_numeric_atoi_semantics() -> None:
    assert evaluate("eq", "0", "xxx")
    assert evaluate("eq", "-3", "  -3abc")
    assert evaluate("gt", "0", "+7")
    assert evaluate("eq", "-1", "99999999999999999999")  # strtol saturates, int cast keeps low bits


def test_pm_is_ascii_case_insensitive_and_captures_phrase() -> None:
    tx = StubTx(capture=True)
    assert evaluate("pm", "Foo bAr", "xxBARxx", tx)
    assert tx.captures == [["bAr"]]
    assert not evaluate("pm", "\xe9t\xe9", "\xc9T\xc9")  # no latin-1 case folding
    assert not evaluate("pm", "a", "")


def test_pm_first_phrase_in_scan_order() -> None:
    tx = StubTx(capture=True)
    assert evaluate("pm", "cdef ab", "abcdef", tx)
    assert tx.captures == [["ab"]]


def test_pm_hex_and_escapes() -> None:
    assert parse_pm_content('"|41 42|c\\;"') == "ABc;"
    assert parse_pm_content("|zz|") == "|zz|"  # nothing converted: returned as is
    with pytest.raises(PmContentError):
        parse_pm_content("a\\q")
    assert evaluate("pm", "|61 62|x", "zzabxzz")


def test_pm_from_file_relative_with_comments(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "words.data").write_bytes(b"# comment\n\n  Select  \r\nunion all\n")
    factory = operators.get("pmFromFile")
    op = factory("sub/words.data", OperatorOptions(base_dir=tmp_path))
    assert op.evaluate(StubTx(), "x UNION ALL y")
    assert op.evaluate(StubTx(), "SELECT")
    assert not op.evaluate(StubTx(), "# comment")
    assert not op.evaluate(StubTx(), "union")


def test_pm_from_file_missing_file_is_load_error(tmp_path: Path) -> None:
    with pytest.raises(OperatorError, match="could not open phrase file"):
        operators.get("pmf")("nope.data", OperatorOptions(base_dir=tmp_path))


def test_crs_data_files_load(crs_layout: Any) -> None:
    rules = crs_layout.rules_dir
    for data in sorted(rules.glob("*.data")):
        op = operators.get("pmFromFile")(data.name, OperatorOptions(base_dir=rules))
        assert op.matcher.size > 0, data.name  # type: ignore[attr-defined]


def test_ip_match_v4_v6_and_file(tmp_path: Path) -> None:
    assert evaluate("ipMatch", "192.168.0.0/16, 10.0.0.1,2001:db8::/32", "192.168.4.2")
    assert evaluate("ipMatch", "192.168.0.0/16,2001:db8::/32", "2001:db8::42")
    assert not evaluate("ipMatch", "192.168.0.0/16", "not-an-ip")
    assert not evaluate("ipMatch", "192.168.0.0/16", "192.168.001.1")
    with pytest.raises(OperatorError):
        operators.get("ipMatch")("300.1.1.1", OPTS)
    (tmp_path / "ips.txt").write_text("# bad hosts\n10.0.0.0/8\n\n  ::1\n")
    op = operators.get("ipMatchFromFile")("ips.txt", OperatorOptions(base_dir=tmp_path))
    assert op.evaluate(StubTx(), "10.1.2.3") and op.evaluate(StubTx(), "::1")
    assert not op.evaluate(StubTx(), "11.0.0.1")


def test_validate_byte_range() -> None:
    assert evaluate("validateByteRange", "9,10,13,32-126", "ok\tline\r\n") is False
    assert evaluate("validateByteRange", "32-126", "a\x00") is True
    assert evaluate("validateByteRange", "1-255", "") is False
    with pytest.raises(OperatorError):
        operators.get("validateByteRange")("10-300", OPTS)
    with pytest.raises(OperatorError):
        operators.get("validateByteRange")("20-10", OPTS)


def test_validate_utf8_v2_edges() -> None:
    assert not evaluate("validateUtf8Encoding", "", "caf\xc3\xa9")
    assert evaluate("validateUtf8Encoding", "", "\xc0\x80")  # overlong
    assert evaluate("validateUtf8Encoding", "", "\xed\xa0\x80")  # surrogate
    assert evaluate("validateUtf8Encoding", "", "\xf5\x80\x80\x80")  # lead >= F5
    assert not evaluate("validateUtf8Encoding", "", "\xf4\x90\x80\x80")  # v2 accepts this


def test_verify_cc_luhn_and_capture() -> None:
    tx = StubTx(capture=True)
    assert evaluate("verifyCC", "\\d{13,16}", "card 4111111111111111 ok", tx)
    assert tx.captures == [["4111111111111111"]]
    # v2 retries from each start offset, so only a value with no Luhn-valid window fails.
    assert not evaluate("verifyCC", "\\d{13,16}", "card 0000000000001 x")


ANY_VALUE = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0xFF), max_size=40)
TYPICAL = [
    ("rx", "(?i)(?:union\\s+select|<script)"), ("pm", "select union <script"),
    ("beginsWith", "/a"), ("endsWith", ".php"), ("contains", "x"), ("containsWord", "or"),
    ("within", "GET POST"), ("streq", "x"), ("strmatch", "abc"), ("eq", "0"), ("ge", "1"),
    ("gt", "1"), ("le", "1"), ("lt", "1"), ("ipMatch", "10.0.0.0/8,::1"),
    ("detectSQLi", ""), ("detectXSS", ""), ("validateByteRange", "32-126"),
    ("validateUrlEncoding", ""), ("validateUtf8Encoding", ""), ("verifyCC", "\\d{13,16}"),
    ("unconditionalMatch", ""), ("noMatch", ""),
]


@pytest.mark.parametrize(("name", "argument"), TYPICAL)
@settings(max_examples=40, deadline=None)
@given(value=ANY_VALUE)
def test_operators_take_any_byte_value(name: str, argument: str, value: str) -> None:
    op = operators.get(name)(argument, OPTS)
    assert op.evaluate(StubTx(capture=True), value) in (True, False)


def test_acmp_reports_current_node_text_for_suffix_hits() -> None:
    # v2 quirk: "bc" ends inside "abc…", and v2 reports the current node's text "abc".
    assert PhraseMatcher(["abcd", "bc"]).first("zabcx") == "abc"
    assert PhraseMatcher(["abcd", "bc"]).first("zbcx") == "bc"


def test_acmp_misses_what_v2_misses() -> None:
    # v2 builds fail links one level deep, so after "xyzc" it falls back to the root and
    # never sees "zcq"; a textbook automaton would match.
    matcher = PhraseMatcher(["xyzcd", "yzq", "zcq"])
    assert matcher.first("xyzcq") is None
    assert matcher.first("..zcq") == "zcq"


def test_acmp_keeps_first_phrase_case() -> None:
    tx = StubTx(capture=True)
    assert evaluate("pm", "SeLeCt select", "x SELECT y", tx)
    assert tx.captures == [["SeLeCt"]]


def test_pm_from_file_drops_one_character_lines(tmp_path: Path) -> None:
    (tmp_path / "p.data").write_text("a\nbc\n")
    op = operators.get("pmFromFile")("p.data", OperatorOptions(base_dir=tmp_path))
    assert not op.evaluate(StubTx(), "a")
    assert op.evaluate(StubTx(), "xbcx")
