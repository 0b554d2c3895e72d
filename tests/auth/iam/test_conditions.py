"""Table-driven tests for every condition operator family, set operators, IfExists, Null and
absent keys (IAM:reference_policies_elements_condition_operators, ..._multi-value-conditions)."""

from __future__ import annotations

from typing import Any

import pytest

from bastion.auth.iam import Outcome, PolicyError, operator_names

from .helpers import allow_if, decide

ABSENT = object()

# (operator, policy value(s), request value(s) or ABSENT, expected allow)
CASES: list[tuple[str, Any, Any, bool]] = [
    # String
    ("StringEquals", "alice", "alice", True),
    ("StringEquals", "alice", "Alice", False),
    ("StringEquals", ["bob", "alice"], "alice", True),
    ("StringEquals", "a*", "abc", False),
    ("StringEquals", "x", ABSENT, False),
    ("StringNotEquals", "alice", "bob", True),
    ("StringNotEquals", "alice", "alice", False),
    ("StringNotEquals", ["bob", "alice"], "alice", False),
    ("StringNotEquals", ["bob", "carol"], "alice", True),
    ("StringNotEquals", "x", ABSENT, True),
    ("StringEqualsIgnoreCase", "ALICE", "alice", True),
    ("StringEqualsIgnoreCase", "ALICE", "bob", False),
    ("StringNotEqualsIgnoreCase", "ALICE", "alice", False),
    ("StringNotEqualsIgnoreCase", "ALICE", "bob", True),
    ("StringLike", "a*e", "alice", True),
    ("StringLike", "a?ice", "alice", True),
    ("StringLike", "a?ice", "aalice", False),
    ("StringLike", "*/admin/*", "x/admin/y", True),
    ("StringLike", "A*", "alice", False),
    ("StringLike", "x*", ABSENT, False),
    ("StringNotLike", "a*", "bob", True),
    ("StringNotLike", ["b*", "a*"], "alice", False),
    ("StringNotLike", "a*", ABSENT, True),
    ("StringEqualsIfExists", "alice", ABSENT, True),
    ("StringEqualsIfExists", "alice", "bob", False),
    ("StringLikeIfExists", "a*", "alice", True),
    # Numeric
    ("NumericEquals", "10", "10", True),
    ("NumericEquals", "10", "10.0", True),
    ("NumericEquals", 10, "11", False),
    ("NumericEquals", "10", "ten", False),
    ("NumericNotEquals", "10", "11", True),
    ("NumericNotEquals", "10", "10", False),
    ("NumericNotEquals", "10", ABSENT, True),
    ("NumericLessThan", "10", "9", True),
    ("NumericLessThan", "10", "10", False),
    ("NumericLessThanEquals", "10", "10", True),
    ("NumericGreaterThan", "10", "10.5", True),
    ("NumericGreaterThan", "10", "-3", False),
    ("NumericGreaterThanEquals", "10", "10", True),
    ("NumericGreaterThanEquals", "10", ABSENT, False),
    ("NumericLessThanIfExists", "10", ABSENT, True),
    # Date
    ("DateEquals", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", True),
    ("DateEquals", "2024-01-01T00:00:00Z", "1704067200", True),
    ("DateEquals", "2024-01-01", "2024-01-01T00:00:00Z", True),
    ("DateNotEquals", "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", True),
    ("DateLessThan", "2024-01-01T00:00:00Z", "2023-12-31T23:59:59Z", True),
    ("DateLessThan", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", False),
    ("DateLessThanEquals", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", True),
    ("DateGreaterThan", "2024-01-01T00:00:00Z", "2024-06-01T12:00:00+02:00", True),
    ("DateGreaterThanEquals", "1704067200", "2023-01-01T00:00:00Z", False),
    ("DateGreaterThan", "2024-01-01T00:00:00Z", "not a date", False),
    ("DateLessThanIfExists", "2024-01-01T00:00:00Z", ABSENT, True),
    # Bool
    ("Bool", "true", "true", True),
    ("Bool", True, "true", True),
    ("Bool", "true", "false", False),
    ("Bool", "false", "FALSE", True),
    ("Bool", "true", ABSENT, False),
    ("BoolIfExists", "false", ABSENT, True),
    # Binary
    ("BinaryEquals", "QmluYXJ5VmFsdWU=", "QmluYXJ5VmFsdWU=", True),
    ("BinaryEquals", "QmluYXJ5VmFsdWU=", "T3RoZXI=", False),
    ("BinaryEquals", "QmluYXJ5VmFsdWU=", ABSENT, False),
    # IP
    ("IpAddress", "203.0.113.0/24", "203.0.113.7", True),
    ("IpAddress", "203.0.113.0/24", "203.0.114.7", False),
    ("IpAddress", "203.0.113.7", "203.0.113.7", True),
    ("IpAddress", ["10.0.0.0/8", "2001:db8::/32"], "2001:db8::1", True),
    ("IpAddress", "2001:db8::/32", "2001:db9::1", False),
    ("IpAddress", "203.0.113.0/24", "::ffff:203.0.113.9", True),
    ("IpAddress", "203.0.113.0/24", "not-an-ip", False),
    ("IpAddress", "203.0.113.0/24", ABSENT, False),
    ("NotIpAddress", "203.0.113.0/24", "198.51.100.1", True),
    ("NotIpAddress", ["10.0.0.0/8", "203.0.113.0/24"], "203.0.113.1", False),
    ("NotIpAddress", "203.0.113.0/24", ABSENT, True),
    ("IpAddressIfExists", "203.0.113.0/24", ABSENT, True),
    # Arn
    ("ArnEquals", "arn:aws:iam::123456789012:user/alice", "arn:aws:iam::123456789012:user/alice",
     True),
    ("ArnLike", "arn:aws:iam::*:user/*", "arn:aws:iam::123456789012:user/alice", True),
    ("ArnLike", "arn:aws:iam::*:user/*", "arn:aws:iam::123456789012:role/alice", False),
    ("ArnLike", "arn:aws:iam::*:user/*", "arn:aws:IAM::123456789012:user/alice", False),
    ("ArnLike", "arn:aws:*:us-east-1:*", "arn:aws:iam::123:user/x", False),
    ("ArnLike", "arn:aws:iam::12345678901?:user/a", "arn:aws:iam::123456789012:user/a", True),
    ("ArnEquals", "arn:aws:iam::*:user/a", "arn:aws:iam::1:user/a", True),
    ("ArnLike", "arn:aws:iam::*:user/*", "not-an-arn", False),
    ("ArnNotEquals", "arn:aws:iam::1:user/a", "arn:aws:iam::1:user/b", True),
    ("ArnNotLike", "arn:aws:iam::*:user/a*", "arn:aws:iam::1:user/alice", False),
    ("ArnNotLike", "arn:aws:iam::*:user/a*", ABSENT, True),
    ("ArnLikeIfExists", "arn:aws:iam::*:user/a*", ABSENT, True),
]


@pytest.mark.parametrize(("operator", "policy", "request_value", "expected"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_operator(operator: str, policy: Any, request_value: Any, expected: bool) -> None:
    context = {} if request_value is ABSENT else {"test:Key": request_value}
    decision = decide(allow_if({operator: {"test:Key": policy}}), context)
    assert decision.allowed is expected, decision.explain()
    if not expected:
        assert decision.outcome is Outcome.IMPLICIT_DENY
        assert decision.near_misses and operator in decision.near_misses[0].condition


def test_every_family_is_covered() -> None:
    covered = {c[0].removesuffix("IfExists") for c in CASES} | {"Null"}
    assert covered == set(operator_names())


# Set operators over multivalued keys: (operator, policy values, request values, expected)
SET_CASES: list[tuple[str, Any, Any, bool]] = [
    ("ForAllValues:StringEquals", ["a", "b"], ["a"], True),
    ("ForAllValues:StringEquals", ["a", "b"], ["a", "b"], True),
    ("ForAllValues:StringEquals", ["a", "b"], ["a", "c"], False),
    ("ForAllValues:StringEquals", ["a", "b"], ABSENT, True),
    ("ForAllValues:StringEquals", ["a", "b"], [], True),
    ("ForAllValues:StringLike", ["team-*"], ["team-a", "team-b"], True),
    ("ForAllValues:StringNotEquals", ["x"], ["a", "b"], True),
    ("ForAllValues:StringNotEquals", ["x"], ["a", "x"], False),
    ("ForAnyValue:StringEquals", ["a", "b"], ["c", "b"], True),
    ("ForAnyValue:StringEquals", ["a", "b"], ["c", "d"], False),
    ("ForAnyValue:StringEquals", ["a", "b"], ABSENT, False),
    ("ForAnyValue:StringNotEquals", ["a"], ["a", "b"], True),
    ("ForAnyValue:StringNotEquals", ["a"], ["a"], False),
    ("ForAnyValue:StringEqualsIfExists", ["a"], ABSENT, True),
    ("ForAnyValue:IpAddress", ["10.0.0.0/8"], ["192.0.2.1", "10.1.1.1"], True),
    ("ForAllValues:NumericLessThan", ["5"], ["1", "4"], True),
    ("ForAllValues:NumericLessThan", ["5"], ["1", "6"], False),
    # A single-valued operator on a multivalued key: any value may match.
    ("StringEquals", ["a"], ["c", "a"], True),
    ("StringNotEquals", ["a"], ["c", "a"], False),
]


@pytest.mark.parametrize(("operator", "policy", "request_value", "expected"), SET_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(SET_CASES)])
def test_set_operators(operator: str, policy: Any, request_value: Any, expected: bool) -> None:
    context = {} if request_value is ABSENT else {"aws:TagKeys": request_value}
    decision = decide(allow_if({operator: {"aws:TagKeys": policy}}), context)
    assert decision.allowed is expected, decision.explain()


@pytest.mark.parametrize(("policy", "present", "expected"), [
    ("true", False, True), ("true", True, False), ("false", True, True), ("false", False, False),
    (True, False, True), (False, True, True),
])
def test_null(policy: Any, present: bool, expected: bool) -> None:
    context = {"aws:TokenIssueTime": "2024-01-01T00:00:00Z"} if present else {}
    decision = decide(allow_if({"Null": {"aws:TokenIssueTime": policy}}), context)
    assert decision.allowed is expected


def test_multiple_keys_and_operators_are_anded() -> None:
    doc = allow_if({
        "StringEquals": {"aws:username": "alice", "aws:PrincipalTag/team": "blue"},
        "IpAddress": {"aws:SourceIp": "10.0.0.0/8"},
    })
    ok = {"aws:username": "alice", "aws:PrincipalTag/team": "blue", "aws:SourceIp": "10.1.2.3"}
    assert decide(doc, ok).allowed
    for key, bad in [("aws:username", "bob"), ("aws:PrincipalTag/team", "red"),
                     ("aws:SourceIp", "192.0.2.1")]:
        decision = decide(doc, {**ok, key: bad})
        assert not decision.allowed
        assert key in decision.near_misses[0].condition


def test_condition_key_names_are_case_insensitive() -> None:
    doc = allow_if({"StringEquals": {"AWS:UserName": "alice"}})
    assert decide(doc, {"aws:username": "alice"}).allowed
    assert decide(doc, {"AWS:USERNAME": "alice"}).allowed


@pytest.mark.parametrize(("condition", "fragment"), [
    ({"StringEqualz": {"k": "v"}}, "unknown condition operator 'StringEqualz'"),
    ({"ForSomeValues:StringEquals": {"k": "v"}}, "unknown condition set operator"),
    ({"NumericEquals": {"k": "ten"}}, "not a number"),
    ({"DateLessThan": {"k": "yesterday"}}, "not an ISO 8601 date"),
    ({"IpAddress": {"k": "10.0.0.0/33"}}, "not an IP address"),
    ({"Bool": {"k": "yes"}}, "Bool takes"),
    ({"BinaryEquals": {"k": "***"}}, "not base64"),
    ({"Null": {"k": "maybe"}}, "Null takes"),
    ({"NullIfExists": {"k": "true"}}, "Null takes neither"),
    ({"StringEquals": {"k": []}}, "empty value list"),
    ({"StringEquals": {"k": {"nested": 1}}}, "not a string, number or boolean"),
    ({"StringEquals": "k"}, "needs an object of keys"),
])
def test_bad_conditions_are_load_errors(condition: dict[str, Any], fragment: str) -> None:
    with pytest.raises(PolicyError) as info:
        decide(allow_if(condition))
    assert fragment in str(info.value)
    assert "Statement[0] (Sid 'Cond')" in str(info.value)
