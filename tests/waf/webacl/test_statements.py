"""Table-driven: one row per statement type / FieldToMatch / option, matching and not."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.waf.webacl.util import byte_match, matches, req, tt

H = (("Host", "api.example.com"), ("User-Agent", "Mozilla/5.0"), ("X-Api", "Secret"),
     ("Cookie", "session=abc; theme=dark"), ("X-Forwarded-For", "198.51.100.7, 10.0.0.1"))
R = req("POST", "/pets/%2E%2E/admin", "id=7&name=Rex%27%20OR%201%3D1&tag=a&tag=b", H,
        json.dumps({"pet": {"name": "<script>alert(1)</script>", "age": 3},
                    "tags": ["x", "y"]}).encode())

URI: dict[str, Any] = {"UriPath": {}}
QS: dict[str, Any] = {"QueryString": {}}
BODY: dict[str, Any] = {"Body": {}}


def one(field: dict[str, Any]) -> dict[str, Any]:
    return field


BYTE_CASES = [
    (URI, "/pets", "STARTS_WITH", (), True),
    (URI, "admin", "ENDS_WITH", (), True),
    (URI, "/pets/../admin", "EXACTLY", ("URL_DECODE",), True),
    (URI, "/admin", "EXACTLY", ("URL_DECODE", "NORMALIZE_PATH"), True),
    (URI, "pets", "CONTAINS_WORD", (), True),
    (URI, "pet", "CONTAINS_WORD", (), False),
    (QS, "name=Rex", "CONTAINS", (), True),
    ({"SingleQueryArgument": {"Name": "NAME"}}, "' OR 1=1", "ENDS_WITH", ("URL_DECODE",), True),
    ({"SingleQueryArgument": {"Name": "missing"}}, "x", "CONTAINS", (), False),
    ({"AllQueryArguments": {}}, "b", "EXACTLY", (), True),
    ({"AllQueryArguments": {}}, "tag", "EXACTLY", (), False),  # values only
    ({"SingleHeader": {"Name": "x-api"}}, "secret", "EXACTLY", ("LOWERCASE",), True),
    ({"SingleHeader": {"Name": "x-api"}}, "secret", "EXACTLY", (), False),
    ({"Method": {}}, "POST", "EXACTLY", (), True),
    ({"HeaderOrder": {"OversizeHandling": "CONTINUE"}}, "host:user-agent:x-api", "STARTS_WITH",
     (), True),
    ({"HeaderOrder": {"OversizeHandling": "CONTINUE"}}, "host:x-api", "STARTS_WITH", (), False),
    (BODY, "<script>", "CONTAINS", (), True),
    ({"Headers": {"MatchPattern": {"All": {}}, "MatchScope": "KEY",
                  "OversizeHandling": "CONTINUE"}}, "x-api", "EXACTLY", ("LOWERCASE",), True),
    ({"Headers": {"MatchPattern": {"IncludedHeaders": ["user-agent"]}, "MatchScope": "VALUE",
                  "OversizeHandling": "CONTINUE"}}, "Secret", "EXACTLY", (), False),
    ({"Headers": {"MatchPattern": {"ExcludedHeaders": ["x-api"]}, "MatchScope": "ALL",
                  "OversizeHandling": "CONTINUE"}}, "Secret", "EXACTLY", (), False),
    ({"Cookies": {"MatchPattern": {"IncludedCookies": ["theme"]}, "MatchScope": "VALUE",
                  "OversizeHandling": "CONTINUE"}}, "dark", "EXACTLY", (), True),
    ({"Cookies": {"MatchPattern": {"ExcludedCookies": ["theme"]}, "MatchScope": "ALL",
                  "OversizeHandling": "CONTINUE"}}, "dark", "EXACTLY", (), False),
    ({"Cookies": {"MatchPattern": {"All": {}}, "MatchScope": "KEY",
                  "OversizeHandling": "CONTINUE"}}, "session", "EXACTLY", (), True),
    ({"JsonBody": {"MatchPattern": {"All": {}}, "MatchScope": "VALUE"}}, "y", "EXACTLY", (),
     True),
    ({"JsonBody": {"MatchPattern": {"All": {}}, "MatchScope": "VALUE"}}, "3", "EXACTLY", (),
     True),
    ({"JsonBody": {"MatchPattern": {"All": {}}, "MatchScope": "VALUE"}}, "pet", "EXACTLY", (),
     False),
    ({"JsonBody": {"MatchPattern": {"All": {}}, "MatchScope": "KEY"}}, "age", "EXACTLY", (),
     True),
    ({"JsonBody": {"MatchPattern": {"IncludedPaths": ["/tags"]}, "MatchScope": "ALL"}}, "<script>",
     "CONTAINS", (), False),
    ({"JsonBody": {"MatchPattern": {"IncludedPaths": ["/pet/name"]}, "MatchScope": "VALUE"}},
     "<script>", "CONTAINS", (), True),
    ({"UriFragment": {"FallbackBehavior": "MATCH"}}, "x", "CONTAINS", (), True),
    ({"UriFragment": {}}, "x", "CONTAINS", (), False),
]


@pytest.mark.parametrize(("field", "search", "pos", "types", "want"), BYTE_CASES)
def test_byte_match_fields(field: dict[str, Any], search: str, pos: str,
                           types: tuple[str, ...], want: bool) -> None:
    assert matches(byte_match(field, search, pos, *types), R) is want


BIG = req("POST", "/", "", (("Host", "h"),), b"A" * 9000 + b"needle")


@pytest.mark.parametrize(("oversize", "limit", "want"), [
    ("CONTINUE", 8192, False),   # the needle lies past the inspected 8 KB
    ("MATCH", 8192, True),
    ("NO_MATCH", 8192, False),
    ("CONTINUE", 16384, True),
])
def test_body_oversize_handling(oversize: str, limit: int, want: bool) -> None:
    st = byte_match({"Body": {"OversizeHandling": oversize}}, "needle")
    assert matches(st, BIG, body_limit=limit) is want


@pytest.mark.parametrize(("fallback", "body", "want"), [
    ("MATCH", b"{not json", True),
    ("NO_MATCH", b"{not json", False),
    ("EVALUATE_AS_STRING", b"{not json needle", True),
    (None, b"{not json needle", False),
])
def test_json_invalid_fallback(fallback: str | None, body: bytes, want: bool) -> None:
    jb: dict[str, Any] = {"MatchPattern": {"All": {}}, "MatchScope": "VALUE"}
    if fallback:
        jb["InvalidFallbackBehavior"] = fallback
    r = req("POST", "/", "", (("Host", "h"),), body)
    assert matches(byte_match({"JsonBody": jb}, "needle"), r) is want


def test_headers_oversize_handling() -> None:
    many = tuple((f"X-H{i}", "v") for i in range(250))
    r = req(headers=many)
    for handling, want in (("MATCH", True), ("NO_MATCH", False), ("CONTINUE", False)):
        st = byte_match({"Headers": {"MatchPattern": {"All": {}}, "MatchScope": "KEY",
                                     "OversizeHandling": handling}}, "X-H249", "EXACTLY")
        assert matches(st, r) is want, handling
    from tests.waf.webacl.util import build, rule, run, web_acl

    st = byte_match({"Headers": {"MatchPattern": {"All": {}}, "MatchScope": "KEY",
                                 "OversizeHandling": "CONTINUE"}}, "nothing", "EXACTLY")
    _, ev = build(web_acl(rule("r", st)))
    assert run(ev, r).oversize_fields == ["REQUEST_HEADERS"]


@pytest.mark.parametrize(("regex", "field", "want"), [
    ("^/pets/[0-9.%A-F]+/admin$", URI, True),
    ("(?i)mozilla", {"SingleHeader": {"Name": "user-agent"}}, True),
    ("^Mozilla/4", {"SingleHeader": {"Name": "user-agent"}}, False),
])
def test_regex_match(regex: str, field: dict[str, Any], want: bool) -> None:
    st = {"RegexMatchStatement": {"RegexString": regex, "FieldToMatch": field,
                                  "TextTransformations": tt()}}
    assert matches(st, R) is want


@pytest.mark.parametrize(("op", "size", "want"), [
    ("GT", 17, True), ("GT", 18, False), ("EQ", 18, True), ("NE", 18, False),
    ("LE", 18, True), ("LT", 18, False), ("GE", 18, True),
])
def test_size_constraint(op: str, size: int, want: bool) -> None:
    st = {"SizeConstraintStatement": {"FieldToMatch": URI, "ComparisonOperator": op,
                                      "Size": size, "TextTransformations": tt()}}
    assert matches(st, R) is want  # "/pets/%2E%2E/admin" is 18 bytes


def test_size_constraint_on_transformed_value() -> None:
    st = {"SizeConstraintStatement": {"FieldToMatch": URI, "ComparisonOperator": "EQ",
                                      "Size": 14, "TextTransformations": tt("URL_DECODE")}}
    assert matches(st, R)


@pytest.mark.parametrize(("data", "level", "want"), [
    ("1' or '1'='1", "LOW", True),
    ("Rex", "LOW", False),
    ("SELECT name FROM pets", "HIGH", True),
])
def test_sqli_match(data: str, level: str, want: bool) -> None:
    st = {"SqliMatchStatement": {"FieldToMatch": {"SingleQueryArgument": {"Name": "q"}},
                                 "SensitivityLevel": level, "TextTransformations": tt()}}
    assert matches(st, req(query="q=" + data)) is want


@pytest.mark.parametrize(("data", "want"), [
    ("<script>alert(1)</script>", True), ("<img src=x onerror=alert(1)>", True),
    ("hello world", False),
])
def test_xss_match(data: str, want: bool) -> None:
    st = {"XssMatchStatement": {"FieldToMatch": BODY, "TextTransformations": tt()}}
    assert matches(st, req("POST", body=data.encode())) is want


def test_logic_statements() -> None:
    a = byte_match({"Method": {}}, "POST", "EXACTLY")
    b = byte_match(URI, "/nope", "STARTS_WITH")
    assert matches({"AndStatement": {"Statements": [a, a]}}, R)
    assert not matches({"AndStatement": {"Statements": [a, b]}}, R)
    assert matches({"OrStatement": {"Statements": [b, a]}}, R)
    assert matches({"NotStatement": {"Statement": b}}, R)
    assert not matches({"NotStatement": {"Statement": a}}, R)


def test_pre_parse_transformations() -> None:
    st = {"ByteMatchStatement": {
        "SearchString": "a,b", "PositionalConstraint": "EXACTLY",
        "FieldToMatch": {"SingleQueryArgument": {"Name": "tag"}},
        "PreParseTextTransformations": [
            {"Priority": 0, "Type": "COMBINE_DUPLICATE_QUERY_ARGS_BY_COMMA"}],
        "TextTransformations": tt()}}
    assert matches(st, R)
    st2 = {"ByteMatchStatement": {
        "SearchString": "2", "PositionalConstraint": "EXACTLY",
        "FieldToMatch": {"SingleQueryArgument": {"Name": "b"}},
        "PreParseTextTransformations": [
            {"Priority": 0, "Type": "REPLACE_SEMICOLONS_WITH_AMPERSANDS"}],
        "TextTransformations": tt()}}
    assert matches(st2, req(query="a=1;b=2"))
    assert not matches(st2 | {}, req(query="a=1%3Bb=2"))


def test_catastrophic_regex_gives_up_instead_of_stalling() -> None:
    import copy
    import time

    from bastion.waf.webacl import regex

    st = {"RegexMatchStatement": {"RegexString": "^(a+)+$", "FieldToMatch": BODY,
                                  "TextTransformations": tt()}}
    before = copy.copy(regex.GAVE_UP)
    t0 = time.perf_counter()
    assert not matches(st, req("POST", body=b"a" * 5000 + b"!"))
    assert time.perf_counter() - t0 < 2.0
    assert next(regex.GAVE_UP) > next(before)
    assert matches(st, req("POST", body=b"a" * 50))


def test_pcre_syntax_and_bad_patterns_are_errors() -> None:
    from bastion.errors import ConfigErrors
    from bastion.waf.webacl import parse_web_acl
    from tests.waf.webacl.util import rule, web_acl

    st = {"RegexMatchStatement": {"RegexString": r"(?i)\bselect\b\s+\w+", "FieldToMatch": QS,
                                  "TextTransformations": tt("URL_DECODE")}}
    assert matches(st, req(query="q=SELECT%20name"))
    bad = {"RegexMatchStatement": {"RegexString": "a{2,1}", "FieldToMatch": QS,
                                   "TextTransformations": tt()}}
    with pytest.raises(ConfigErrors, match="invalid regex"):
        parse_web_acl(web_acl(rule("r", bad)))


def test_json_body_partial_parse_of_a_cut_document() -> None:
    """Without InvalidFallbackBehavior AWS evaluates what it parsed before the first error:
    a JSON body cut at the inspection limit still has its first members inspected."""
    body = b'{"user": {"name": "needle", "tags": ["a", "b"]}, "blob": "' + b"x" * 20000 + b'"}'
    r = req("POST", "/", "", (("Host", "h"),), body)
    jb = {"MatchPattern": {"IncludedPaths": ["/user/name"]}, "MatchScope": "VALUE"}
    assert matches(byte_match({"JsonBody": jb}, "needle", "EXACTLY"), r, body_limit=8192)
    keys = {"MatchPattern": {"IncludedPaths": ["/user"]}, "MatchScope": "KEY"}
    assert matches(byte_match({"JsonBody": keys}, "tags", "EXACTLY"), r, body_limit=8192)
    assert not matches(byte_match({"JsonBody": keys}, "user", "EXACTLY"), r, body_limit=8192)
    arr = {"MatchPattern": {"IncludedPaths": ["/user/tags/1"]}, "MatchScope": "VALUE"}
    assert matches(byte_match({"JsonBody": arr}, "b", "EXACTLY"), r, body_limit=8192)
    # with a fallback, the fallback decides for the invalid (cut) document
    fb = {**jb, "InvalidFallbackBehavior": "NO_MATCH"}
    assert not matches(byte_match({"JsonBody": fb}, "needle", "EXACTLY"), r, body_limit=8192)
    assert matches(byte_match({"JsonBody": fb}, "needle", "EXACTLY"), r, body_limit=65536)


def test_json_scanner_events() -> None:
    from bastion.waf.webacl.jsonscan import scan

    events, ok = scan('{"a": [1, {"b~/": "\\u00e9"}], "c": null} ')
    assert ok
    assert events == [(("a",), "key", "a"), (("a", "0"), "value", "1"),
                      (("a", "1", "b~/"), "key", "b~/"), (("a", "1", "b~/"), "value", "é"),
                      (("c",), "key", "c"), (("c",), "value", "null")]
    assert scan('{"a": 1} trailing')[1] is False
    assert scan("[" * 1000)[1] is False  # depth-bounded, no RecursionError
