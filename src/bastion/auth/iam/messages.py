"""AWS-shaped 403 texts for IAM and authorizer denials (body key is capital ``Message``).

``User: <arn> is not authorized to perform: execute-api:Invoke on resource: <arn>`` with
`` with an explicit deny`` for explicit denies and ``User: anonymous`` for unauthenticated
callers (gateway-semantics §1.3). API Gateway masks the account id in the resource ARN to its
last four digits (``********6173``); ``mask_account=False`` turns that off. ``detailed=True``
appends the newer suffixes (``because no identity-based policy allows ...`` / ``with an explicit
deny in a resource-based policy``).
"""

from __future__ import annotations

from .arn import parse_arn
from .decision import Decision, Outcome

__all__ = [
    "access_denied_body",
    "access_denied_message",
    "authorizer_denied_body",
    "mask_account_id",
]


def mask_account_id(arn: str) -> str:
    """``arn:aws:execute-api:us-east-1:123456786173:...`` -> ``...:********6173:...``."""
    parsed = parse_arn(arn)
    if parsed is None or len(parsed.account) < 5:
        return arn
    masked = "*" * (len(parsed.account) - 4) + parsed.account[-4:]
    return str(parsed.__class__(parsed.partition, parsed.service, parsed.region, masked,
                                parsed.resource))


def access_denied_message(
    principal: str | None, action: str, resource: str, *, explicit: bool,
    mask_account: bool = True, detailed: bool = False, policy_kind: str | None = None,
) -> str:
    """The ``Message`` text of an IAM / resource-policy 403."""
    who = principal if principal is not None else "anonymous"
    shown = mask_account_id(resource) if mask_account else resource
    text = f"User: {who} is not authorized to perform: {action} on resource: {shown}"
    if explicit:
        text += " with an explicit deny"
        if detailed and policy_kind:
            text += f" in {'a resource' if policy_kind == 'resource' else 'an identity'}-based "
            text += "policy"
    elif detailed:
        kind = "resource" if principal is None or policy_kind == "resource" else "identity"
        text += f" because no {kind}-based policy allows the {action} action"
    return text


def access_denied_body(
    decision: Decision, principal: str | None, action: str, resource: str, *,
    mask_account: bool = True, detailed: bool = False,
) -> dict[str, str]:
    """``{"Message": ...}`` for a denied ``decision``.

    Sent with status 403 and ``x-amzn-ErrorType: AccessDeniedException``.
    """
    if decision.outcome is Outcome.ALLOW:
        raise ValueError("an allowed decision has no access-denied body")
    kind = decision.statement.policy_kind if decision.statement else decision.side
    return {"Message": access_denied_message(
        principal, action, resource, explicit=decision.explicit, mask_account=mask_account,
        detailed=detailed, policy_kind=kind,
    )}


def authorizer_denied_body(*, explicit: bool) -> dict[str, str]:
    """Lambda-authorizer policy denial: ``User is not authorized to access this resource``."""
    text = "User is not authorized to access this resource"
    return {"Message": text + (" with an explicit deny" if explicit else "")}
