"""Properties (hypothesis): an applicable explicit Deny always wins, on one side and after
Table A/B combination; NotAction/NotResource are exact complements of Action/Resource."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.auth.iam import (
    AccessRequest,
    Outcome,
    RequestContext,
    evaluate,
    parse_policy,
    simulate,
)

ACCOUNTS = ["111111111111", "222222222222"]
WORD = st.text(alphabet="abAB01-_", min_size=1, max_size=6)
SERVICE = st.sampled_from(["execute-api", "s3", "iam"])
ACTIONS = st.builds(lambda s, n: f"{s}:{n}", SERVICE, WORD)
RESOURCES = st.builds(
    lambda region, acct, api, stage, verb, path:
        f"arn:aws:execute-api:{region}:{acct}:{api}/{stage}/{verb}/{path}",
    st.sampled_from(["us-east-1", "eu-west-1"]), st.sampled_from(ACCOUNTS), WORD, WORD,
    st.sampled_from(["GET", "POST"]), st.lists(WORD, max_size=3).map("/".join),
)


def _wildcard(text: str, data: st.DataObject, matching: bool = False) -> str:
    """Derive a pattern from ``text``: keep it, or replace a slice with * / a char with ?
    (or, unless ``matching``, prefix something that may not match)."""
    modes = ["same", "star", "qmark"] + ([] if matching else ["other"])
    mode = data.draw(st.sampled_from(modes))
    if mode == "same" or not text:
        return text
    i = data.draw(st.integers(0, len(text) - 1))
    if mode == "star":
        j = data.draw(st.integers(i, len(text)))
        return text[:i] + "*" + text[j:]
    if mode == "qmark":
        return text[:i] + "?" + text[i + 1:]
    return data.draw(WORD) + text[i:]


def _action_pattern(action: str, data: st.DataObject, matching: bool = False) -> str:
    service, _, name = action.partition(":")
    if data.draw(st.booleans()):
        return "*"
    return f"{service}:{_wildcard(name, data, matching)}"


def _resource_pattern(resource: str, data: st.DataObject) -> str:
    if data.draw(st.integers(0, 5)) == 0:
        return "*"
    prefix, _, rest = resource.rpartition(":")
    return f"{prefix}:{_wildcard(rest, data)}"


CONDITIONS: list[dict[str, Any]] = [
    {},
    {"StringEquals": {"aws:username": "alice"}},
    {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    {"Bool": {"aws:SecureTransport": "true"}},
    {"StringNotLike": {"aws:username": "b*"}},
]


def _statement(effect: str, data: st.DataObject, action: str, resource: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Effect": effect,
        "Action": [_action_pattern(action, data), data.draw(ACTIONS)],
        "Resource": [_resource_pattern(resource, data)],
    }
    cond = data.draw(st.sampled_from(CONDITIONS))
    if cond:
        body["Condition"] = cond
    return body


CONTEXT = RequestContext.of({"aws:username": "alice", "aws:SourceIp": "10.1.2.3",
                             "aws:SecureTransport": "true"})


@settings(max_examples=200, deadline=None)
@given(data=st.data(), action=ACTIONS, resource=RESOURCES)
def test_applicable_explicit_deny_always_wins(data: st.DataObject, action: str,
                                              resource: str) -> None:
    statements = [_statement(data.draw(st.sampled_from(["Allow", "Deny"])), data, action,
                             resource) for _ in range(data.draw(st.integers(0, 5)))]
    deny = {"Effect": "Deny", "Action": action, "Resource": resource}
    # Make sure the Deny applies (its condition, if any, holds for CONTEXT).
    cond = data.draw(st.sampled_from(CONDITIONS[:4]))
    if cond:
        deny["Condition"] = cond
    statements.insert(data.draw(st.integers(0, len(statements))), deny)
    policy = parse_policy({"Version": "2012-10-17", "Statement": statements})
    decision = evaluate([policy], AccessRequest(action, resource, None, CONTEXT))
    assert decision.outcome is Outcome.EXPLICIT_DENY


@settings(max_examples=100, deadline=None)
@given(data=st.data(), action=ACTIONS, resource=RESOURCES,
       caller_account=st.sampled_from(ACCOUNTS), deny_side=st.sampled_from(["id", "res"]))
def test_explicit_deny_wins_after_combination(data: st.DataObject, action: str, resource: str,
                                              caller_account: str, deny_side: str) -> None:
    caller = f"arn:aws:iam::{caller_account}:user/alice"
    id_statements = [_statement("Allow", data, action, resource) for _ in range(2)]
    res_statements = [{**_statement("Allow", data, action, resource), "Principal": "*"}]
    deny = {"Effect": "Deny", "Action": "*", "Resource": "*"}
    if deny_side == "id":
        id_statements.append(deny)
    else:
        res_statements.append({**deny, "Principal": {"AWS": caller_account}})
    ids = parse_policy({"Version": "2012-10-17", "Statement": id_statements})
    rp = parse_policy({"Version": "2012-10-17", "Statement": res_statements}, kind="resource")
    decision = simulate([ids], rp, action, resource, caller, CONTEXT)
    assert decision.outcome is Outcome.EXPLICIT_DENY


@settings(max_examples=300, deadline=None)
@given(data=st.data(), action=ACTIONS, target=ACTIONS, resource=RESOURCES)
def test_not_action_is_the_complement_of_action(data: st.DataObject, action: str, target: str,
                                                resource: str) -> None:
    patterns = [_action_pattern(target, data) for _ in range(data.draw(st.integers(1, 3)))]
    plain = parse_policy({"Statement": {"Effect": "Allow", "Action": patterns, "Resource": "*"}})
    inverse = parse_policy({"Statement": {"Effect": "Allow", "NotAction": patterns,
                                          "Resource": "*"}})
    request = AccessRequest(action, resource)
    assert evaluate([plain], request).allowed != evaluate([inverse], request).allowed


@settings(max_examples=300, deadline=None)
@given(data=st.data(), resource=RESOURCES, target=RESOURCES)
def test_not_resource_is_the_complement_of_resource(data: st.DataObject, resource: str,
                                                    target: str) -> None:
    patterns = [_resource_pattern(target, data) for _ in range(data.draw(st.integers(1, 3)))]
    plain = parse_policy({"Statement": {"Effect": "Deny", "Action": "*", "Resource": patterns}})
    inverse = parse_policy({"Statement": {"Effect": "Deny", "Action": "*",
                                          "NotResource": patterns}})
    request = AccessRequest("execute-api:Invoke", resource)
    assert evaluate([plain], request).explicit != evaluate([inverse], request).explicit


@settings(max_examples=200, deadline=None)
@given(action=ACTIONS, data=st.data())
def test_a_pattern_derived_from_an_action_matches_it_in_any_case(action: str,
                                                                 data: st.DataObject) -> None:
    pattern = _action_pattern(action, data, matching=True)
    flipped = data.draw(st.sampled_from([pattern, pattern.upper(), pattern.lower()]))
    policy = parse_policy({"Statement": {"Effect": "Allow", "Action": flipped, "Resource": "*"}})
    assert evaluate([policy], AccessRequest(action, "arn:aws:s3:::b")).allowed
