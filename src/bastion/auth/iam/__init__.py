"""IAM policy engine (no network): parse, compile, evaluate, combine, explain.

Public API::

    policy = parse_policy_json(text, name="user.json")                 # identity policy
    rp = parse_policy(doc, name="api", kind="resource",
                      api=ApiScope("us-east-1", "123456789012", "abc123"))  # expands execute-api:/*
    ctx = RequestContext.for_request(now=clock.time(), source_ip="10.0.0.7",
                                     principal_arn=arn, principal_account=acct, username="alice")
    decision = simulate([policy], rp, "execute-api:Invoke",
                        execute_api_arn("us-east-1", "123456789012", "abc123", "prod", "GET",
                                        "/pets"), arn, ctx)
    decision.outcome      # Outcome.ALLOW | EXPLICIT_DENY | IMPLICIT_DENY
    decision.explain()    # which statement decided, which condition failed (near misses)
    access_denied_body(decision, arn, action, resource)
    # -> {"Message": "User: ... is not authorized to perform: ... with an explicit deny"}

``evaluate(policies, AccessRequest(...))`` is one side (explicit Deny > Allow > implicit deny);
``combine`` applies API Gateway's Table A (same account) / Table B (cross-account). Malformed
policies raise ``PolicyError`` (a ``bastion.errors.ConfigError``) naming the statement.
"""

from __future__ import annotations

from .arn import Arn, arn_matches, execute_api_arn, expand_execute_api_shorthand, parse_arn
from .combine import combine, simulate
from .conditions import Condition, operator_names
from .context import RequestContext
from .decision import Decision, NearMiss, Outcome, StatementRef
from .evaluate import AccessRequest, evaluate, principal_matches
from .loader import load_policy_file
from .messages import (
    access_denied_body,
    access_denied_message,
    authorizer_denied_body,
    mask_account_id,
)
from .model import (
    ApiScope,
    Policy,
    PolicyError,
    PolicyKind,
    PrincipalSpec,
    Statement,
    parse_policy,
    parse_policy_json,
)

__all__ = [
    "AccessRequest",
    "ApiScope",
    "Arn",
    "Condition",
    "Decision",
    "NearMiss",
    "Outcome",
    "Policy",
    "PolicyError",
    "PolicyKind",
    "PrincipalSpec",
    "RequestContext",
    "Statement",
    "StatementRef",
    "access_denied_body",
    "access_denied_message",
    "arn_matches",
    "authorizer_denied_body",
    "combine",
    "evaluate",
    "execute_api_arn",
    "expand_execute_api_shorthand",
    "load_policy_file",
    "mask_account_id",
    "operator_names",
    "parse_arn",
    "parse_policy",
    "parse_policy_json",
    "principal_matches",
    "simulate",
]
