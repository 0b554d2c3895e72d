"""Loader findings: each problem once, with its JSON path."""

from __future__ import annotations

from typing import Any

import pytest

from bastion.errors import ConfigErrors
from bastion.waf.webacl import parse_web_acl
from tests.waf.webacl.util import byte_match, rule, tt, web_acl

URI: dict[str, Any] = {"UriPath": {}}


def errors(doc: Any, **kw: Any) -> list[tuple[str | None, str]]:
    with pytest.raises(ConfigErrors) as exc:
        parse_web_acl(doc, **kw)
    return [(e.key, e.message) for e in exc.value.errors]


def test_two_statement_members_is_one_error() -> None:
    st = {**byte_match(URI, "/a"), **{"XssMatchStatement": {"FieldToMatch": URI,
                                                            "TextTransformations": tt()}}}
    got = errors(web_acl(rule("r", st)))
    assert got == [("Rules[0].Statement", "error: exactly one of ByteMatchStatement, "
                    "SqliMatchStatement, XssMatchStatement, SizeConstraintStatement, "
                    "GeoMatchStatement, RuleGroupReferenceStatement, IPSetReferenceStatement, "
                    "RegexPatternSetReferenceStatement, RateBasedStatement, AndStatement, "
                    "OrStatement, NotStatement, ManagedRuleGroupStatement, LabelMatchStatement, "
                    "RegexMatchStatement, AsnMatchStatement expected, got ByteMatchStatement, "
                    "XssMatchStatement")]


@pytest.mark.parametrize(("mutate", "key", "text"), [
    (lambda s: s.update(TextTransformations=[]), "TextTransformations", "at least one"),
    (lambda s: s.update(TextTransformations=[{"Priority": 0, "Type": "ROT13"}]),
     "TextTransformations[0].Type", "not one of"),
    (lambda s: s.update(PositionalConstraint="ANYWHERE"), "PositionalConstraint", "not one of"),
    (lambda s: s.pop("FieldToMatch"), "FieldToMatch", "required"),
    (lambda s: s.update(FieldToMatch={"Cookies": {"MatchPattern": {"All": {}},
                                                  "MatchScope": "ALL"}}),
     "FieldToMatch.Cookies.OversizeHandling", "required"),
    (lambda s: s.update(FieldToMatch={"JsonBody": {"MatchPattern": {"IncludedPaths": ["a"]},
                                                   "MatchScope": "ALL"}}),
     "FieldToMatch.JsonBody.MatchPattern.IncludedPaths[0]", "not a JSON pointer"),
    (lambda s: s.update(Extra=1), "Extra", "unknown field"),
])
def test_byte_match_problems(mutate: Any, key: str, text: str) -> None:
    st = byte_match(URI, "/a")
    mutate(st["ByteMatchStatement"])
    got = errors(web_acl(rule("r", st)))
    assert any(k == f"Rules[0].Statement.ByteMatchStatement.{key}" and text in m
               for k, m in got), got


def test_regex_errors_and_reserved_metric() -> None:
    st = {"RegexMatchStatement": {"RegexString": "(unclosed", "FieldToMatch": URI,
                                  "TextTransformations": tt()}}
    r = rule("r", st)
    r["VisibilityConfig"]["MetricName"] = "All"
    got = errors(web_acl(r))
    keys = {k for k, _ in got}
    assert keys == {"Rules[0].Statement.RegexMatchStatement.RegexString",
                    "Rules[0].VisibilityConfig.MetricName"}


def test_ip_set_problems_and_envelope_extras() -> None:
    arn = "arn:aws:wafv2:us-east-1:1:regional/ipset/s/1"
    ipset = {"IPSet": {"Name": "s", "Id": "1", "ARN": arn,
                       "IPAddressVersion": "IPV4", "Addresses": ["2001:db8::/32", "bogus"]},
             "LockToken": "x", "Surprise": True}
    doc = web_acl(rule("r", {"IPSetReferenceStatement": {"ARN": arn}}))
    got = errors(doc, ip_sets=[("s.json", ipset)])
    assert sorted(k or "" for k, _ in got) == ["s.json:IPSet.Addresses[0]",
                                               "s.json:IPSet.Addresses[1]", "s.json:Surprise"]


def test_action_and_override_rules() -> None:
    no_action = rule("r", byte_match(URI, "/a"))
    del no_action["Action"]
    assert errors(web_acl(no_action)) == [("Rules[0].Action", "error: required field is missing")]
    both = rule("r", byte_match(URI, "/a"), OverrideAction={"None": {}})
    assert ("Rules[0].OverrideAction", "error: only rule-group references take OverrideAction"
            ) in errors(web_acl(both))
    monetize = rule("r", byte_match(URI, "/a"), Action={"Monetize": {}})
    assert errors(web_acl(monetize))[0][0] == "Rules[0].Action.Monetize"


def test_nested_rate_based_is_an_error() -> None:
    st = {"NotStatement": {"Statement": {"RateBasedStatement": {
        "Limit": 100, "AggregateKeyType": "IP"}}}}
    got = errors(web_acl(rule("r", st)))
    assert got == [("Rules[0].Statement.NotStatement.Statement.RateBasedStatement",
                    "error: RateBasedStatement cannot be nested")]


def test_label_namespace_default_and_explicit() -> None:
    acl = parse_web_acl(web_acl(rule("r", byte_match(URI, "/a"), "Count",
                                     RuleLabels=[{"Name": "x:y"}])))
    assert acl.rules[0].labels == ("awswaf:111122223333:webacl:test-acl:x:y",)
    acl = parse_web_acl(web_acl(rule("r", byte_match(URI, "/a"), "Count",
                                     RuleLabels=[{"Name": "x:y"}]),
                                LabelNamespace="awswaf:111122223333:webacl:other:"))
    assert acl.rules[0].labels == ("awswaf:111122223333:webacl:other:x:y",)
