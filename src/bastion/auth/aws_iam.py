"""The whole AWS_IAM method check as one pure function, for the gateway to call.

``authorize_aws_iam`` = SigV4 verification (``SigV4Verifier``) -> the signer's principal and
identity policies (``CredentialStore``) -> request context (global condition keys) -> identity
policies x resource policy (Table A / Table B) -> an ``IamAuthResult`` carrying exactly what
API Gateway answers: status, ``x-amzn-ErrorType``, body (``message`` for signature failures,
``Message`` for access denials) and the gateway response type. Not a pipeline stage: the lead's
stage calls this and turns a refusal into an ``Interruption``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bastion.auth.credentials import Principal
from bastion.auth.iam import (
    Decision,
    Policy,
    RequestContext,
    access_denied_body,
    simulate,
)
from bastion.auth.iam.context import ContextValue
from bastion.auth.sigv4 import SigV4Failure, SigV4Verifier, VerifyResult
from bastion.pipeline import Interruption

__all__ = ["IamAuthResult", "authorize_aws_iam"]

INVOKE = "execute-api:Invoke"


@dataclass(frozen=True, slots=True)
class IamAuthResult:
    """``allowed`` or the refusal to send (``status``, ``error_type``, ``body``,
    ``response_type``); ``principal``/``decision``/``sigv4`` say who and why."""

    allowed: bool
    status: int
    error_type: str | None
    body: Mapping[str, str] | None
    response_type: str | None
    principal: Principal | None
    decision: Decision | None
    sigv4: VerifyResult

    def headers(self) -> list[tuple[str, str]]:
        return [("x-amzn-ErrorType", self.error_type)] if self.error_type else []

    def interruption(self) -> Interruption | None:
        """The pipeline ``Interruption`` for a refusal (None when allowed); ``reason`` carries
        the operator-facing explanation (deciding statement, failed conditions)."""
        if self.allowed or self.body is None or self.response_type is None:
            return None
        key, message = next(iter(self.body.items()))
        if self.decision is not None:
            reason = self.decision.explain()
        elif isinstance(self.sigv4, SigV4Failure):
            reason = f"sigv4: {self.sigv4.reason}"
        else:
            reason = ""
        return Interruption(
            response_type=self.response_type, message=message, status=self.status,
            error_type=self.error_type, message_key=key, source="aws_iam", reason=reason,
        )


def authorize_aws_iam(
    verifier: SigV4Verifier, method: str, raw_path: str, raw_query: str,
    headers: Sequence[tuple[str, str]], body: bytes, *, method_arn: str,
    resource_policy: Policy | None, now: float, source_ip: str | None = None,
    secure_transport: bool | None = None, action: str = INVOKE,
    extra_context: Mapping[str, ContextValue] | None = None, mask_account: bool = True,
) -> IamAuthResult:
    """Authenticate and authorize one request to an AWS_IAM method."""
    verified = verifier.verify(method, raw_path, raw_query, headers, body)
    if isinstance(verified, SigV4Failure):
        return IamAuthResult(False, verified.status, verified.error_type, verified.body(),
                             verified.gateway_response, None, None, verified)
    principal = verified.principal if isinstance(verified.principal, Principal) else None
    if principal is not None:
        context = principal.context(now=now, source_ip=source_ip,
                                    secure_transport=secure_transport, extra=extra_context)
        policies: Sequence[Policy] = principal.policies
        arn: str | None = principal.arn
    else:
        context = RequestContext.for_request(now=now, source_ip=source_ip,
                                             secure_transport=secure_transport,
                                             extra=extra_context)
        policies, arn = (), None
    decision = simulate(policies, resource_policy, action, method_arn, arn, context)
    if decision.allowed:
        return IamAuthResult(True, 200, None, None, None, principal, decision, verified)
    denied = access_denied_body(decision, arn, action, method_arn, mask_account=mask_account)
    return IamAuthResult(False, 403, "AccessDeniedException", denied, "ACCESS_DENIED", principal,
                         decision, verified)
