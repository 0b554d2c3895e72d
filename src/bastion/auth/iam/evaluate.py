"""Evaluation of one set of policies: explicit Deny > Allow > implicit deny.

A statement applies when its action, resource, principal (resource policies) and every
condition match (IAM:reference_policies_evaluation-logic). All statements of all given
policies are considered; the first applicable Deny decides, else the first applicable Allow,
else the request is implicitly denied. Statements that matched on everything but a condition
are reported as near misses so a user can see which condition failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .arn import account_of, arn_matches, parse_arn
from .context import RequestContext
from .decision import Decision, NearMiss, Outcome, StatementRef
from .model import Policy, PrincipalSpec, Statement

__all__ = ["AccessRequest", "evaluate", "principal_matches"]

_MAX_NEAR_MISSES = 16


@dataclass(frozen=True, slots=True)
class AccessRequest:
    """The question: may ``principal`` (an ARN, None = anonymous) do ``action`` on
    ``resource`` in ``context``? ``service_principal`` is set for AWS service callers."""

    action: str
    resource: str
    principal: str | None = None
    context: RequestContext = RequestContext()
    service_principal: str | None = None


def _role_of_session(principal_arn: str) -> str | None:
    """``arn:aws:sts::123:assumed-role/R/session`` -> ``arn:aws:iam::123:role/R``."""
    arn = parse_arn(principal_arn)
    if arn is None or arn.service != "sts" or not arn.resource.startswith("assumed-role/"):
        return None
    parts = arn.resource.split("/")
    if len(parts) < 3:
        return None
    return f"arn:{arn.partition}:iam::{arn.account}:role/{parts[1]}"


def principal_matches(spec: PrincipalSpec, request: AccessRequest) -> bool:
    """Does the caller match a Principal element (``*`` includes anonymous callers)?"""
    if spec.everyone:
        return True
    caller = request.principal
    if request.service_principal is not None and request.service_principal in spec.service:
        return True
    if caller is None:
        return False
    account = account_of(caller)
    role = _role_of_session(caller)
    for ident in spec.aws:
        if ident == account:
            return True
        arn = parse_arn(ident)
        if arn is None:
            continue
        if arn.service == "iam" and arn.resource == "root" and arn.account == account:
            return True
        if ident == caller or (role is not None and ident == role):
            return True
    return caller in spec.federated or caller in spec.canonical_user


def _ref(policy: Policy, st: Statement) -> StatementRef:
    return StatementRef(policy.name, policy.kind, st.index, st.sid, st.effect)


def _matches_resource(st: Statement, request: AccessRequest) -> bool:
    hit = False
    for template in st.resources:
        pieces = template.render(request.context.values)
        if pieces is not None and arn_matches(pieces, request.resource):
            hit = True
            break
    return hit != st.not_resource


def _matches_principal(st: Statement, request: AccessRequest) -> bool:
    if st.principal is None:
        return True
    return principal_matches(st.principal, request) != st.not_principal


def evaluate(policies: Sequence[Policy], request: AccessRequest) -> Decision:
    """Evaluate ``request`` against ``policies`` taken together (one side of Table A/B)."""
    allow: StatementRef | None = None
    misses: list[NearMiss] = []
    for policy in policies:
        for st in policy.statements:
            if not (st.matches_action(request.action) and _matches_resource(st, request)
                    and _matches_principal(st, request)):
                continue
            failed = next((c for c in st.conditions if not c.evaluate(request.context)), None)
            if failed is not None:
                if len(misses) < _MAX_NEAR_MISSES:
                    misses.append(NearMiss(_ref(policy, st), failed.describe(request.context)))
                continue
            ref = _ref(policy, st)
            if st.effect == "Deny":
                return Decision(Outcome.EXPLICIT_DENY, f"explicitly denied by {ref}", ref,
                                tuple(misses))
            if allow is None:
                allow = ref
    if allow is not None:
        return Decision(Outcome.ALLOW, f"allowed by {allow}", allow, tuple(misses))
    names = ", ".join(p.name for p in policies) or "(none)"
    return Decision(
        Outcome.IMPLICIT_DENY,
        f"no statement allows {request.action} on {request.resource} (policies: {names})",
        None, tuple(misses),
    )
