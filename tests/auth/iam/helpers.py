"""Tiny builders shared by the IAM tests."""

from __future__ import annotations

from typing import Any

from bastion.auth.iam import AccessRequest, Decision, RequestContext, evaluate, parse_policy

ACCOUNT = "123456789012"
OTHER = "210987654321"
USER = f"arn:aws:iam::{ACCOUNT}:user/alice"
RES = f"arn:aws:execute-api:us-east-1:{ACCOUNT}:abc123/prod/GET/pets"
ACTION = "execute-api:Invoke"


def allow_if(condition: dict[str, Any], version: str = "2012-10-17") -> dict[str, Any]:
    return {"Version": version, "Statement": [{
        "Sid": "Cond", "Effect": "Allow", "Action": ACTION, "Resource": "*",
        "Condition": condition,
    }]}


def decide(doc: dict[str, Any], context: dict[str, Any] | None = None, *,
           action: str = ACTION, resource: str = RES, principal: str | None = USER) -> Decision:
    policy = parse_policy(doc, name="test")
    return evaluate([policy], AccessRequest(action, resource, principal,
                                            RequestContext.of(context or {})))
