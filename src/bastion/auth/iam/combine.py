"""Identity policies x resource policy, as API Gateway combines them (gateway-semantics §1.2).

Table A (caller and API in the same account): a Deny on either side is an explicit deny;
otherwise an Allow on either side allows; otherwise implicit deny.
Table B (cross-account): a Deny on either side is an explicit deny; an Allow needs both sides;
otherwise implicit deny. An anonymous caller (auth NONE) has no identity side: the resource
policy alone decides and needs an explicit Allow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from .arn import account_of, parse_arn
from .context import RequestContext
from .decision import Decision, Outcome
from .evaluate import AccessRequest, evaluate
from .model import Policy

__all__ = ["combine", "simulate"]


def combine(
    identity: Decision, resource: Decision, *, same_account: bool,
    resource_must_allow: bool = False,
) -> Decision:
    """Combine the two sides' decisions per Table A (``same_account``) or Table B.

    ``resource_must_allow`` is the Cognito-authorizer reading of the docs ("the resource policy
    is evaluated independently, and an explicit allow is required"): the resource side must
    Allow even in the same account (gateway-semantics §1.2 notes the doc inconsistency).
    """
    misses = identity.near_misses + resource.near_misses
    for side, d in (("identity", identity), ("resource", resource)):
        if d.outcome is Outcome.EXPLICIT_DENY:
            return replace(d, near_misses=misses, side=side, same_account=same_account)
    if resource_must_allow and not resource.allowed:
        return Decision(Outcome.IMPLICIT_DENY,
                        "the resource policy must explicitly allow it and does not",
                        None, misses, side="resource", same_account=same_account)
    if same_account:
        for side, d in (("identity", identity), ("resource", resource)):
            if d.allowed:
                return replace(d, near_misses=misses, side=side, same_account=True)
        return Decision(Outcome.IMPLICIT_DENY,
                        "neither the identity policies nor the resource policy allow it "
                        "(same account: either may allow)",
                        None, misses, side=None, same_account=True)
    if identity.allowed and resource.allowed:
        return Decision(Outcome.ALLOW,
                        f"cross-account: {identity.reason}; and {resource.reason}",
                        resource.statement, misses, side="both", same_account=False)
    missing = [name for name, d in (("identity policies", identity),
                                    ("resource policy", resource)) if not d.allowed]
    return Decision(Outcome.IMPLICIT_DENY,
                    f"cross-account access needs an Allow on both sides; the "
                    f"{' and the '.join(missing)} did not allow it",
                    None, misses, side=None, same_account=False)


def simulate(
    identity_policies: Sequence[Policy], resource_policy: Policy | None, action: str,
    resource: str, principal: str | None = None, context: RequestContext | None = None,
) -> Decision:
    """Decide like API Gateway's AWS_IAM (or NONE, for an anonymous ``principal``) method.

    Same account when the principal's account equals the resource ARN's account.
    """
    request = AccessRequest(action, resource, principal, context or RequestContext())
    if principal is None:
        if resource_policy is None:
            return Decision(Outcome.IMPLICIT_DENY,
                            "anonymous caller and no resource policy to allow it",
                            side="resource")
        return replace(evaluate([resource_policy], request), side="resource")
    identity = evaluate(identity_policies, request)
    if resource_policy is None:
        return replace(identity, side="identity")
    res_arn = parse_arn(resource)
    same = res_arn is not None and account_of(principal) == res_arn.account
    return combine(identity, evaluate([resource_policy], request), same_account=same)
