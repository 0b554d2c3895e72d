"""Blocking is a value: a stage returns an ``Interruption`` and only the chain renders it."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Interruption"]


@dataclass(frozen=True, slots=True)
class Interruption:
    """Why the request stops here, in API Gateway's vocabulary.

    ``response_type`` is a gateway response type (``MISSING_AUTHENTICATION_TOKEN``,
    ``ACCESS_DENIED``, ``WAF_FILTERED`` ...). ``status``, ``error_type`` and ``message`` override
    that type's defaults. ``body`` replaces the rendered body entirely (a WAF custom response).
    ``reason`` explains the decision to the operator (trace, logs) and is never sent to the client.
    """

    response_type: str
    message: str | None = None
    status: int | None = None
    error_type: str | None = None
    message_key: str = "message"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    content_type: str = "application/json"
    source: str = ""
    reason: str = ""
    rule_id: str | None = None
    details: dict[str, object] = field(default_factory=dict)
