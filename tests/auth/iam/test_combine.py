"""Resource policies: Principal matching, Tables A and B, execute-api:/* shorthand, and the
AWS 403 messages (explicit vs implicit, anonymous, masking)."""

from __future__ import annotations

from typing import Any

import pytest

from bastion.auth.iam import (
    ApiScope,
    Decision,
    Outcome,
    PolicyError,
    RequestContext,
    access_denied_body,
    access_denied_message,
    authorizer_denied_body,
    combine,
    execute_api_arn,
    expand_execute_api_shorthand,
    mask_account_id,
    parse_policy,
    simulate,
)

from .helpers import ACCOUNT, ACTION, OTHER, RES, USER

OTHER_USER = f"arn:aws:iam::{OTHER}:user/mallory"
SCOPE = ApiScope("us-east-1", ACCOUNT, "abc123")


def identity(effect: str | None) -> list[Any]:
    if effect is None:
        return [parse_policy({"Version": "2012-10-17", "Statement": {
            "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}}, name="id")]
    return [parse_policy({"Version": "2012-10-17", "Statement": {
        "Sid": f"Id{effect}", "Effect": effect, "Action": ACTION, "Resource": "*"}}, name="id")]


def resource_policy(effect: str | None, principal: Any = "*") -> Any:
    action = ACTION if effect is not None else "execute-api:InvalidateCache"
    return parse_policy({"Version": "2012-10-17", "Statement": {
        "Sid": f"Res{effect}", "Effect": effect or "Allow", "Principal": principal,
        "Action": action, "Resource": "execute-api:/*"}}, name="rp", kind="resource", api=SCOPE)


A, D, N = "Allow", "Deny", None
ALLOW, EXPLICIT, IMPLICIT = Outcome.ALLOW, Outcome.EXPLICIT_DENY, Outcome.IMPLICIT_DENY

TABLE_A = [  # IAM, resource policy, result (same account)
    (A, A, ALLOW), (A, N, ALLOW), (A, D, EXPLICIT),
    (N, A, ALLOW), (N, N, IMPLICIT), (N, D, EXPLICIT),
    (D, A, EXPLICIT), (D, N, EXPLICIT), (D, D, EXPLICIT),
]
TABLE_B = [  # cross-account
    (A, A, ALLOW), (A, N, IMPLICIT), (A, D, EXPLICIT),
    (N, A, IMPLICIT), (N, N, IMPLICIT), (N, D, EXPLICIT),
    (D, A, EXPLICIT), (D, N, EXPLICIT), (D, D, EXPLICIT),
]


@pytest.mark.parametrize(("iam", "res", "expected"), TABLE_A)
def test_table_a_same_account(iam: str | None, res: str | None, expected: Outcome) -> None:
    d = simulate(identity(iam), resource_policy(res), ACTION, RES, USER)
    assert d.outcome is expected, d.explain()
    assert d.same_account is True


@pytest.mark.parametrize(("iam", "res", "expected"), TABLE_B)
def test_table_b_cross_account(iam: str | None, res: str | None, expected: Outcome) -> None:
    d = simulate(identity(iam), resource_policy(res), ACTION, RES, OTHER_USER)
    assert d.outcome is expected, d.explain()
    assert d.same_account is False


def test_combine_reports_the_deciding_side() -> None:
    allow = Decision(ALLOW, "allowed")
    deny = Decision(EXPLICIT, "denied")
    none = Decision(IMPLICIT, "nothing")
    assert combine(allow, deny, same_account=True).side == "resource"
    assert combine(none, allow, same_account=True).side == "resource"
    assert combine(allow, allow, same_account=False).side == "both"
    assert "did not allow" in combine(allow, none, same_account=False).reason


def test_resource_must_allow_variant() -> None:
    allow, none = Decision(ALLOW, "allowed"), Decision(IMPLICIT, "nothing")
    assert combine(allow, none, same_account=True).allowed
    strict = combine(allow, none, same_account=True, resource_must_allow=True)
    assert strict.outcome is IMPLICIT and strict.side == "resource"
    assert combine(allow, allow, same_account=True, resource_must_allow=True).allowed


def test_no_resource_policy_means_identity_alone() -> None:
    assert simulate(identity(A), None, ACTION, RES, USER).allowed
    assert simulate(identity(N), None, ACTION, RES, USER).outcome is IMPLICIT


def test_anonymous_caller_needs_a_resource_policy_allow() -> None:
    assert simulate([], resource_policy(A), ACTION, RES, None).allowed
    assert simulate([], resource_policy(N), ACTION, RES, None).outcome is IMPLICIT
    assert simulate([], resource_policy(D), ACTION, RES, None).outcome is EXPLICIT
    assert simulate([], None, ACTION, RES, None).outcome is IMPLICIT


@pytest.mark.parametrize(("principal", "caller", "hit"), [
    ("*", None, True),
    ({"AWS": "*"}, None, True),
    ({"AWS": ACCOUNT}, USER, True),
    ({"AWS": ACCOUNT}, OTHER_USER, False),
    ({"AWS": ACCOUNT}, None, False),
    ({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, USER, True),
    ({"AWS": f"arn:aws:iam::{OTHER}:root"}, USER, False),
    ({"AWS": USER}, USER, True),
    ({"AWS": [OTHER_USER, USER]}, USER, True),
    ({"AWS": f"arn:aws:iam::{ACCOUNT}:user/bob"}, USER, False),
    ({"AWS": f"arn:aws:iam::{ACCOUNT}:role/Admin"},
     f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/session-1", True),
    ({"AWS": f"arn:aws:iam::{ACCOUNT}:role/Admin"},
     f"arn:aws:sts::{ACCOUNT}:assumed-role/Other/session-1", False),
])
def test_resource_policy_principal(principal: Any, caller: str | None, hit: bool) -> None:
    d = simulate([], resource_policy(A, principal), ACTION, RES, caller)
    assert d.allowed is hit


def test_not_principal() -> None:
    rp = parse_policy({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": ACTION, "Resource": "*"},
        {"Sid": "OnlyAlice", "Effect": "Deny", "NotPrincipal": {"AWS": USER},
         "Action": ACTION, "Resource": "*"},
    ]}, kind="resource")
    assert simulate([], rp, ACTION, RES, USER).allowed
    d = simulate([], rp, ACTION, RES, f"arn:aws:iam::{ACCOUNT}:user/bob")
    assert d.outcome is EXPLICIT and d.statement is not None and d.statement.sid == "OnlyAlice"


@pytest.mark.parametrize(("principal", "fragment"), [
    ({"AWS": f"arn:aws:iam::{ACCOUNT}:user/*"}, "wildcards are not allowed"),
    ({"AWS": "alice"}, "neither an account id nor an ARN"),
    ({"Human": "x"}, "unknown principal type"),
    ("everyone", 'must be "*"'),
])
def test_bad_principals(principal: Any, fragment: str) -> None:
    with pytest.raises(PolicyError, match=fragment):
        resource_policy(A, principal)


def test_resource_policy_needs_a_principal() -> None:
    with pytest.raises(PolicyError, match="needs exactly one of Principal or NotPrincipal"):
        parse_policy({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}},
                     kind="resource")


@pytest.mark.parametrize(("short", "full"), [
    ("execute-api:/*", f"arn:aws:execute-api:us-east-1:{ACCOUNT}:abc123/*"),
    ("execute-api:/prod/GET/pets", f"arn:aws:execute-api:us-east-1:{ACCOUNT}:abc123/prod/GET/pets"),
    ("execute-api:/*/*/*", f"arn:aws:execute-api:us-east-1:{ACCOUNT}:abc123/*/*/*"),
    ("arn:aws:execute-api:eu-west-1:1:x/*", "arn:aws:execute-api:eu-west-1:1:x/*"),
])
def test_shorthand_expansion(short: str, full: str) -> None:
    assert expand_execute_api_shorthand(short, "us-east-1", ACCOUNT, "abc123") == full


def test_shorthand_in_a_resource_policy_is_scoped_to_its_api() -> None:
    rp = resource_policy(A)
    other_api = f"arn:aws:execute-api:us-east-1:{ACCOUNT}:zzz999/prod/GET/pets"
    assert simulate([], rp, ACTION, RES, None).allowed
    assert not simulate([], rp, ACTION, other_api, None).allowed


def test_execute_api_arn() -> None:
    assert execute_api_arn("us-east-1", ACCOUNT, "abc123", "prod", "get", "/pets/a1b2") == (
        f"arn:aws:execute-api:us-east-1:{ACCOUNT}:abc123/prod/GET/pets/a1b2")
    assert execute_api_arn("us-east-1", ACCOUNT, "abc123", "prod", "GET", "/").endswith(
        "/prod/GET/")


def test_source_ip_deny_resource_policy() -> None:
    rp = parse_policy({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": ACTION, "Resource": "execute-api:/*"},
        {"Sid": "BlockNet", "Effect": "Deny", "Principal": "*", "Action": ACTION,
         "Resource": "execute-api:/*",
         "Condition": {"NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24"]}}},
    ]}, kind="resource", api=SCOPE)
    inside = RequestContext.for_request(now=0, source_ip="192.0.2.9")
    outside = RequestContext.for_request(now=0, source_ip="198.51.100.1")
    assert simulate([], rp, ACTION, RES, None, inside).allowed
    d = simulate([], rp, ACTION, RES, None, outside)
    assert d.outcome is EXPLICIT and "BlockNet" in d.reason


# -- messages --------------------------------------------------------------------------------

MASKED = RES.replace(ACCOUNT, "********9012")


def test_implicit_deny_message() -> None:
    d = simulate(identity(N), None, ACTION, RES, USER)
    assert access_denied_body(d, USER, ACTION, RES) == {
        "Message": f"User: {USER} is not authorized to perform: execute-api:Invoke on "
                   f"resource: {MASKED}"}


def test_explicit_deny_message() -> None:
    d = simulate(identity(D), resource_policy(A), ACTION, RES, USER)
    assert access_denied_body(d, USER, ACTION, RES)["Message"] == (
        f"User: {USER} is not authorized to perform: execute-api:Invoke on resource: {MASKED} "
        "with an explicit deny")


def test_anonymous_messages() -> None:
    implicit = simulate([], resource_policy(N), ACTION, RES, None)
    explicit = simulate([], resource_policy(D), ACTION, RES, None)
    assert access_denied_body(implicit, None, ACTION, RES)["Message"] == (
        f"User: anonymous is not authorized to perform: execute-api:Invoke on resource: {MASKED}")
    assert access_denied_body(explicit, None, ACTION, RES)["Message"].endswith(
        " with an explicit deny")


def test_detailed_and_unmasked_messages() -> None:
    assert access_denied_message(USER, ACTION, RES, explicit=False, mask_account=False,
                                 detailed=True) == (
        f"User: {USER} is not authorized to perform: execute-api:Invoke on resource: {RES} "
        "because no identity-based policy allows the execute-api:Invoke action")
    assert access_denied_message(None, ACTION, RES, explicit=True, detailed=True,
                                 policy_kind="resource").endswith(
        "with an explicit deny in a resource-based policy")


def test_mask_account_id() -> None:
    assert mask_account_id("arn:aws:execute-api:us-east-1:123456786173:a/b") == (
        "arn:aws:execute-api:us-east-1:********6173:a/b")
    assert mask_account_id("not-an-arn") == "not-an-arn"


def test_allowed_decision_has_no_denied_body() -> None:
    with pytest.raises(ValueError):
        access_denied_body(Decision(ALLOW, "ok"), USER, ACTION, RES)


def test_authorizer_messages() -> None:
    assert authorizer_denied_body(explicit=False) == {
        "Message": "User is not authorized to access this resource"}
    assert authorizer_denied_body(explicit=True) == {
        "Message": "User is not authorized to access this resource with an explicit deny"}
