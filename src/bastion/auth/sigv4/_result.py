"""What a verification returns: ``SigV4Success`` or ``SigV4Failure`` (a value, never raised).

A failure carries exactly what API Gateway answers: status 403, the ``x-amzn-ErrorType`` and the
message text (body key lower-case ``message``; see gateway-semantics §1.3). ``ok`` is a
``Literal`` class attribute, so ``if result.ok:`` narrows the union for type checkers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final, Literal

__all__ = [
    "INCOMPLETE_SIGNATURE",
    "INVALID_SIGNATURE",
    "MISSING_TOKEN",
    "SigV4Failure",
    "SigV4Success",
    "VerifyResult",
]

MISSING_TOKEN: Final = "MissingAuthenticationTokenException"
INVALID_SIGNATURE: Final = "InvalidSignatureException"
INCOMPLETE_SIGNATURE: Final = "IncompleteSignatureException"
UNRECOGNIZED_CLIENT: Final = "UnrecognizedClientException"
EXPIRED_TOKEN: Final = "ExpiredTokenException"


@dataclass(frozen=True, slots=True)
class SigV4Failure:
    """A rejected request: ``status``, ``error_type`` (x-amzn-ErrorType) and ``message``.

    ``reason`` is a short stable code for logs and metrics (``signature_mismatch``,
    ``expired``, ``not_yet_current``, ``scope_region``, ``unknown_key``, ``replayed``...);
    ``gateway_response`` is the API Gateway response type the lead maps it to.
    """

    error_type: str
    message: str
    reason: str
    status: int = 403

    ok: ClassVar[Literal[False]] = False

    @property
    def gateway_response(self) -> str:
        if self.error_type == MISSING_TOKEN:
            return "MISSING_AUTHENTICATION_TOKEN"
        if self.error_type == EXPIRED_TOKEN:
            return "EXPIRED_TOKEN"
        if self.error_type == UNRECOGNIZED_CLIENT:
            return "ACCESS_DENIED"
        return "INVALID_SIGNATURE"

    def body(self) -> dict[str, str]:
        """The default JSON body API Gateway sends: ``{"message": ...}``."""
        return {"message": self.message}

    def headers(self) -> list[tuple[str, str]]:
        return [("x-amzn-ErrorType", self.error_type)]


@dataclass(frozen=True, slots=True)
class SigV4Success:
    """An authenticated request: who signed it and when.

    ``principal`` is whatever the key resolver attached to the access key (for the credentials
    store, a ``Principal``); ``temporary`` is True for session (STS-style) credentials.
    """

    access_key: str
    principal: object
    signature: str
    signed_at: float
    region: str
    service: str
    presigned: bool
    temporary: bool

    ok: ClassVar[Literal[True]] = True


VerifyResult = SigV4Success | SigV4Failure
