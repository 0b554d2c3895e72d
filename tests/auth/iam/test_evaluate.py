"""Policy model and single-side evaluation: Deny > Allow > implicit deny, wildcards and case
rules, NotAction/NotResource, policy variables, load-time errors naming the statement."""

from __future__ import annotations

from typing import Any

import pytest

from bastion.auth.iam import (
    AccessRequest,
    Outcome,
    PolicyError,
    RequestContext,
    evaluate,
    parse_policy,
    parse_policy_json,
)

from .helpers import ACCOUNT, ACTION, RES, USER, decide


def stmt(effect: str = "Allow", **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"Effect": effect, "Action": ACTION, "Resource": "*"}
    body.update(kw)
    for k in [k for k, v in body.items() if v is None]:
        del body[k]
    return body


def doc(*statements: dict[str, Any], version: str | None = "2012-10-17") -> dict[str, Any]:
    d: dict[str, Any] = {"Statement": list(statements)}
    if version:
        d["Version"] = version
    return d


def test_single_statement_object_is_accepted() -> None:
    assert decide({"Version": "2012-10-17", "Statement": stmt()}).allowed


def test_explicit_deny_beats_allow_and_names_the_statement() -> None:
    d = decide(doc(stmt(Sid="A"), stmt("Deny", Sid="NoPets")))
    assert d.outcome is Outcome.EXPLICIT_DENY
    assert d.statement is not None and d.statement.sid == "NoPets"
    assert "Sid 'NoPets'" in d.reason


def test_statement_without_sid_is_named_by_index() -> None:
    d = decide(doc(stmt(Sid="A", Action="s3:*"), stmt()))
    assert d.allowed and d.statement is not None
    assert (d.statement.index, d.statement.sid) == (1, None)
    assert "Statement[1]" in d.reason


def test_implicit_deny_when_nothing_matches() -> None:
    d = decide(doc(stmt(Action="execute-api:InvalidateCache")))
    assert d.outcome is Outcome.IMPLICIT_DENY and d.statement is None


@pytest.mark.parametrize(("pattern", "action", "hit"), [
    ("execute-api:Invoke", "execute-api:Invoke", True),
    ("EXECUTE-API:invoke", "execute-api:Invoke", True),
    ("execute-api:*", "execute-api:Invoke", True),
    ("execute-api:Inv?ke", "execute-api:Invoke", True),
    ("execute-api:In*", "execute-api:InvalidateCache", True),
    ("*", "execute-api:Invoke", True),
    ("execute-api:Invoke", "execute-api:InvokeX", False),
    ("s3:*", "execute-api:Invoke", False),
])
def test_action_matching_is_case_insensitive_with_wildcards(pattern: str, action: str,
                                                           hit: bool) -> None:
    assert decide(doc(stmt(Action=pattern)), action=action).allowed is hit


@pytest.mark.parametrize(("pattern", "hit"), [
    (RES, True),
    ("*", True),
    (f"arn:aws:execute-api:us-east-1:{ACCOUNT}:abc123/*", True),
    (f"arn:aws:execute-api:us-east-1:{ACCOUNT}:abc123/prod/*/pets", True),
    (f"arn:aws:execute-api:us-east-1:{ACCOUNT}:abc123/*/GET/*", True),
    (f"arn:aws:execute-api:us-east-1:{ACCOUNT}:abc123/prod/GET/pet?", True),
    ("arn:aws:execute-api:*:*:*", True),
    ("arn:aws:execute-api:us-east-1:*:abc123/*", True),
    (f"arn:aws:execute-api:us-east-1:{ACCOUNT}:abc123/prod/POST/*", False),
    (f"arn:aws:execute-api:us-east-1:{ACCOUNT}:ABC123/*", False),  # ARNs are case-sensitive
    (f"arn:aws:execute-api:us-west-2:{ACCOUNT}:abc123/*", False),
    ("arn:aws:execute-api:*", True),  # a shorter pattern: the last * takes the rest
    ("arn:aws:s3:::*", False),
    ("arn:aws:*:us-east-1:*:*", True),
    ("arn:aws:execute-api:us-*:*:abc*", True),
])
def test_resource_matching(pattern: str, hit: bool) -> None:
    assert decide(doc(stmt(Resource=pattern))).allowed is hit


def test_star_crosses_slash_in_resource_but_not_colon_in_earlier_segments() -> None:
    # '*' in the region segment must not swallow the account segment.
    assert not decide(doc(stmt(Resource="arn:aws:execute-api:*:abc123/*"))).allowed
    assert decide(doc(stmt(Resource=f"arn:aws:execute-api:*:{ACCOUNT}:abc123/*"))).allowed


def test_root_path_resource() -> None:
    res = f"arn:aws:execute-api:us-east-1:{ACCOUNT}:abc123/prod/GET/"
    assert decide(doc(stmt(Resource=res)), resource=res).allowed


def test_not_action_with_allow_grants_everything_else() -> None:
    d = doc(stmt(Action=None, NotAction="execute-api:InvalidateCache"))
    assert decide(d).allowed
    assert not decide(d, action="execute-api:InvalidateCache").allowed


def test_not_resource_with_deny() -> None:
    d = doc(stmt(), stmt("Deny", Resource=None,
                         NotResource=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:abc123/*/GET/*"))
    assert decide(d).allowed
    post = RES.replace("/GET/", "/POST/")
    assert decide(d, resource=post).outcome is Outcome.EXPLICIT_DENY


# -- policy variables ------------------------------------------------------------------------

def test_username_variable_in_resource() -> None:
    d = doc(stmt(Resource=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:abc123/prod/GET/users/"
                          "${aws:username}/*"))
    res = f"arn:aws:execute-api:us-east-1:{ACCOUNT}:abc123/prod/GET/users/alice/profile"
    assert decide(d, {"aws:username": "alice"}, resource=res).allowed
    assert not decide(d, {"aws:username": "bob"}, resource=res).allowed
    assert not decide(d, {}, resource=res).allowed  # missing variable -> no match


def test_variable_names_are_case_insensitive() -> None:
    d = doc(stmt(Condition={"StringEquals": {"aws:PrincipalTag/team": "${AWS:UserName}"}}))
    assert decide(d, {"aws:username": "blue", "aws:principaltag/team": "blue"}).allowed


def test_variable_values_are_literal_not_wildcards() -> None:
    d = doc(stmt(Condition={"StringLike": {"test:Path": "home/${aws:username}/*"}}))
    assert decide(d, {"aws:username": "alice", "test:Path": "home/alice/x"}).allowed
    assert not decide(d, {"aws:username": "*", "test:Path": "home/bob/x"}).allowed


@pytest.mark.parametrize(("policy", "value", "hit"), [
    ("a${*}b", "a*b", True),
    ("a${*}b", "axb", False),
    ("a${?}b", "a?b", True),
    ("a${?}b", "axb", False),
    ("cost${$}", "cost$", True),
])
def test_special_variables_are_literal_characters(policy: str, value: str, hit: bool) -> None:
    d = doc(stmt(Condition={"StringLike": {"test:Key": policy}}))
    assert decide(d, {"test:Key": value}).allowed is hit


def test_variable_default_value() -> None:
    d = doc(stmt(Condition={"StringEquals": {
        "test:Team": "${aws:PrincipalTag/team, 'company-wide'}"}}))
    assert decide(d, {"test:Team": "company-wide"}).allowed
    assert decide(d, {"test:Team": "blue", "aws:PrincipalTag/team": "blue"}).allowed
    assert not decide(d, {"test:Team": "company-wide", "aws:PrincipalTag/team": "blue"}).allowed


def test_missing_variable_makes_negated_operator_match() -> None:
    d = doc(stmt(Condition={"StringNotEquals": {"test:Key": "${aws:username}"}}))
    assert decide(d, {"test:Key": "x"}).allowed


def test_variables_only_with_version_2012() -> None:
    cond = {"StringEquals": {"test:Key": "${aws:username}"}}
    assert decide(doc(stmt(Condition=cond)), {"aws:username": "al", "test:Key": "al"}).allowed
    old = doc(stmt(Condition=cond), version="2008-10-17")
    assert not decide(old, {"aws:username": "al", "test:Key": "al"}).allowed
    assert decide(old, {"test:Key": "${aws:username}"}).allowed
    assert decide(doc(stmt(Condition=cond), version=None), {"test:Key": "${aws:username}"}).allowed


def test_source_ip_variable() -> None:
    d = doc(stmt(Condition={"StringEquals": {"test:Ip": "${aws:SourceIp}"}}))
    assert decide(d, {"aws:SourceIp": "10.0.0.1", "test:Ip": "10.0.0.1"}).allowed


# -- load-time errors ------------------------------------------------------------------------

@pytest.mark.parametrize(("policy", "fragment"), [
    (doc(stmt(Effect="allow")), "Effect must be"),
    (doc(stmt(Action=None)), "exactly one of Action or NotAction"),
    (doc(stmt(NotAction="s3:*")), "exactly one of Action or NotAction"),
    (doc(stmt(Resource=None)), "exactly one of Resource or NotResource"),
    (doc(stmt(Action="Invoke")), "invalid action"),
    (doc(stmt(Action=[])), "must not be empty"),
    (doc(stmt(Resource="pets")), "invalid resource"),
    (doc(stmt(Principal="*")), "not allowed in an identity policy"),
    (doc(stmt(Conditions={})), "unknown statement element(s): Conditions"),
    (doc(stmt(Sid=3)), "Sid must be a string"),
])
def test_malformed_statements_name_the_statement(policy: dict[str, Any], fragment: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(policy, name="p.json")
    text = str(info.value)
    assert fragment in text
    assert text.startswith("p.json: Statement[0]")


def test_error_names_sid_and_index_of_the_bad_statement() -> None:
    policy = doc(stmt(Sid="Good"), stmt(Sid="Bad", Effect="Maybe"))
    with pytest.raises(PolicyError) as info:
        parse_policy(policy, name="p.json")
    assert info.value.key == "Statement[1] (Sid 'Bad')"


@pytest.mark.parametrize(("policy", "fragment"), [
    ({"Version": "2012-10-17"}, "needs a Statement"),
    ({"Version": "2020-01-01", "Statement": [stmt()]}, "unsupported Version"),
    ({"Statement": []}, "non-empty list"),
    ({"Statement": [stmt()], "Extra": 1}, "unknown policy element"),
    ({"Statement": ["nope"]}, "must be a JSON object"),
])
def test_malformed_policies(policy: dict[str, Any], fragment: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(policy)
    assert fragment in str(info.value)


def test_duplicate_json_keys_are_rejected() -> None:
    text = ('{"Version":"2012-10-17","Statement":{"Effect":"Allow","Effect":"Deny",'
            '"Action":"*","Resource":"*"}}')
    with pytest.raises(PolicyError, match="duplicate key 'Effect'"):
        parse_policy_json(text)


def test_policy_is_frozen() -> None:
    policy = parse_policy(doc(stmt()))
    with pytest.raises(AttributeError):
        policy.statements = ()  # type: ignore[misc]


def test_all_policies_are_considered_together() -> None:
    allow = parse_policy(doc(stmt()), name="allow")
    deny = parse_policy(doc(stmt("Deny")), name="deny")
    request = AccessRequest(ACTION, RES, USER, RequestContext())
    assert evaluate([allow, deny], request).statement.policy == "deny"  # type: ignore[union-attr]
    assert evaluate([deny, allow], request).outcome is Outcome.EXPLICIT_DENY


def test_request_context_values() -> None:
    ctx = RequestContext({"Aws:UserName": "alice", "aws:TagKeys": ("a", "b")})  # type: ignore[dict-item]
    assert ctx.get("aws:username") == ("alice",)
    assert ctx.get("AWS:TAGKEYS") == ("a", "b")
    assert RequestContext.of({"k": []}).get("k") is None
    assert RequestContext.of({"k": True, "n": 3}).get("k") == ("true",)
    full = RequestContext.for_request(now=1_700_000_000, source_ip="10.0.0.1",
                                      secure_transport=False, request_tags={"env": "dev"})
    assert full.get("aws:CurrentTime") == ("2023-11-14T22:13:20Z",)
    assert full.get("aws:EpochTime") == ("1700000000",)
    assert full.get("aws:SecureTransport") == ("false",)
    assert full.get("aws:userid") == ("anonymous",)
    assert full.get("aws:RequestTag/env") == ("dev",) and full.get("aws:TagKeys") == ("env",)
    assert full.get("aws:username") is None
