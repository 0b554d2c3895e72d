from __future__ import annotations

from typing import Any

import pytest

from bastion.auth.policy_seam import Decision, PolicyError, evaluate

ARN = "arn:aws:execute-api:us-east-1:123456789012:api/prod/GET/pets/1"


def st(effect: str, **kw: Any) -> dict[str, Any]:
    return {"Effect": effect, **kw}


@pytest.mark.parametrize(
    ("statements", "decision", "index"),
    [
        ([st("Allow", Action="execute-api:Invoke", Resource=ARN)], Decision.ALLOW, 0),
        ([st("Allow", Action="EXECUTE-API:invoke", Resource="arn:aws:execute-api:*:*:api/*")],
         Decision.ALLOW, 0),
        ([st("Allow", Action="execute-api:*",
              Resource="arn:*:execute-api:*:*:api/prod/GET/pets/?")],
         Decision.ALLOW, 0),
        ([st("Allow", Action="execute-api:Invoke", Resource=ARN.replace("GET", "get"))],
         Decision.IMPLICIT_DENY, None),
        ([st("Allow", Action="execute-api:Invoke", Resource="*"),
          st("Deny", Action="*", Resource="arn:aws:execute-api:*:*:api/*/GET/*")],
         Decision.EXPLICIT_DENY, 1),
        ([st("Allow", NotAction="s3:*", NotResource="arn:aws:execute-api:*:*:api/*/POST/*")],
         Decision.ALLOW, 0),
        ([st("Allow", Action="s3:GetObject", Resource="*")], Decision.IMPLICIT_DENY, None),
        ([st("Allow", Action="*", Resource="*", Condition={"Bool": {"x": "true"}})],
         Decision.IMPLICIT_DENY, None),
        ([st("Allow", Action="*", Resource="*"),
          st("Deny", Action="*", Resource="*", Condition={"Bool": {"x": "true"}})],
         Decision.ALLOW, 0),  # the condition key is absent: the Deny does not apply
    ],
)
def test_evaluate(statements: list[dict[str, Any]], decision: Decision, index: int | None) -> None:
    v = evaluate({"Version": "2012-10-17", "Statement": statements}, "execute-api:Invoke", ARN)
    assert (v.decision, v.statement) == (decision, index)


def test_near_miss_is_reported() -> None:
    doc = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*",
         "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]}
    v = evaluate(doc, "execute-api:Invoke", ARN)
    assert v.decision is Decision.IMPLICIT_DENY and "aws:SourceIp" in v.note


@pytest.mark.parametrize("policy", [
    {}, {"Statement": []}, {"Statement": [{"Effect": "Allow", "Resource": "*"}]},
    {"Statement": [{"Effect": "allow", "Action": "*", "Resource": "*"}]},
    {"Statement": [{"Effect": "Allow", "Action": 3, "Resource": "*"}]},
])
def test_malformed(policy: dict[str, Any]) -> None:
    with pytest.raises(PolicyError):
        evaluate(policy, "execute-api:Invoke", ARN)
