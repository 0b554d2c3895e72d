"""The value every authorizer returns: allowed (with identity) or refused (with an AWS error shape).

Authorizers never raise to refuse a request. The gateway maps a refused ``AuthOutcome`` to a
``bastion.pipeline.Interruption`` using ``status``, ``error_type``, ``message`` and
``message_key`` (API Gateway uses ``"message"`` for most errors but ``"Message"`` for authorizer
access denials), and sends ``headers`` too. ``reason_code`` (machine) and ``reason`` (human) are
for the decision trace and logs only; they are never sent to the client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bastion.pipeline.exchange import TraceEvent
from bastion.pipeline.interruption import Interruption

__all__ = [
    "AuthOutcome",
    "access_denied",
    "allowed",
    "authorizer_error",
    "explicit_deny",
    "forbidden",
    "limit_exceeded",
    "too_many_requests",
    "unauthorized",
]


@dataclass(frozen=True, slots=True)
class AuthOutcome:
    """Either ``ok`` with principal/claims/scopes/context, or a refusal in API Gateway's shape."""

    ok: bool
    status: int = 200
    error_type: str | None = None
    message: str | None = None
    message_key: str = "message"
    response_type: str | None = None
    reason_code: str = "ok"
    reason: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    principal: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict)
    scopes: tuple[str, ...] = ()
    context: Mapping[str, Any] = field(default_factory=dict)
    usage_identifier_key: str | None = None
    trace: tuple[TraceEvent, ...] = ()

    def body(self) -> dict[str, Any]:
        """The JSON body API Gateway sends for this refusal (``{"message": null}`` included)."""
        return {self.message_key: self.message}

    def with_trace(self, events: list[TraceEvent] | tuple[TraceEvent, ...]) -> AuthOutcome:
        return replace(self, trace=self.trace + tuple(events))

    def to_interruption(self, source: str = "auth") -> Interruption:
        """The refusal as the pipeline's ``Interruption`` (``reason`` stays server-side)."""
        if self.ok:
            raise ValueError("an allowed outcome is not an interruption")
        return Interruption(
            response_type=self.response_type or "DEFAULT_4XX", message=self.message,
            status=self.status, error_type=self.error_type, message_key=self.message_key,
            headers=self.headers, source=source, reason=self.reason,
            details={"reason_code": self.reason_code},
        )


def allowed(**kw: Any) -> AuthOutcome:
    return AuthOutcome(ok=True, reason_code="ok", **kw)


def _refuse(
    status: int, error_type: str, message: str | None, response_type: str,
    code: str, reason: str, *, key: str = "message",
    headers: tuple[tuple[str, str], ...] = (),
) -> AuthOutcome:
    return AuthOutcome(
        ok=False, status=status, error_type=error_type, message=message, message_key=key,
        response_type=response_type, reason_code=code, reason=reason, headers=headers,
    )


def unauthorized(
    code: str, reason: str, *, headers: tuple[tuple[str, str], ...] = ()
) -> AuthOutcome:
    """401 UnauthorizedException ``{"message":"Unauthorized"}``."""
    return _refuse(401, "UnauthorizedException", "Unauthorized", "UNAUTHORIZED", code, reason,
                   headers=headers)


def explicit_deny(code: str, reason: str) -> AuthOutcome:
    """403: a custom authorizer's policy explicitly denied the methodArn (capital ``Message``)."""
    return _refuse(
        403, "AccessDeniedException",
        "User is not authorized to access this resource with an explicit deny",
        "ACCESS_DENIED", code, reason, key="Message",
    )


def access_denied(code: str, reason: str) -> AuthOutcome:
    """403: the policy does not cover the methodArn (implicit deny; the cache pitfall)."""
    return _refuse(403, "AccessDeniedException", "User is not authorized to access this resource",
                   "ACCESS_DENIED", code, reason, key="Message")


def authorizer_error(code: str, reason: str) -> AuthOutcome:
    """500 AuthorizerConfigurationException ``{"message": null}``."""
    return _refuse(500, "AuthorizerConfigurationException", None,
                   "AUTHORIZER_CONFIGURATION_ERROR", code, reason)


def forbidden(code: str, reason: str, *, response_type: str = "INVALID_API_KEY") -> AuthOutcome:
    """403 ForbiddenException ``{"message":"Forbidden"}`` (API keys; Cedar and simple
    responses pass ``response_type="ACCESS_DENIED"``)."""
    return _refuse(403, "ForbiddenException", "Forbidden", response_type, code, reason)


def too_many_requests(code: str, reason: str) -> AuthOutcome:
    """429 TooManyRequestsException ``{"message":"Too Many Requests"}``."""
    return _refuse(429, "TooManyRequestsException", "Too Many Requests", "THROTTLED", code, reason)


def limit_exceeded(code: str, reason: str) -> AuthOutcome:
    """429 LimitExceededException ``{"message":"Limit Exceeded"}`` (usage-plan quota)."""
    return _refuse(429, "LimitExceededException", "Limit Exceeded", "QUOTA_EXCEEDED", code, reason)
