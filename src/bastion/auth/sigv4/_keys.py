"""The seam between the verifier and wherever keys live: ``KeyResolver.resolve(access_key)``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bastion.auth.secret import Secret

__all__ = ["Credentials", "KeyResolver", "ResolvedKey", "StaticKeys"]


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a client signs with: access key, secret and, for temporary credentials, a token."""

    access_key: str
    secret: Secret
    session_token: Secret | None = None

    @classmethod
    def of(cls, access_key: str, secret: str, session_token: str | None = None) -> Credentials:
        return cls(access_key, Secret(secret), Secret(session_token) if session_token else None)


@dataclass(frozen=True, slots=True)
class ResolvedKey:
    """A known access key: its secret, its session token if temporary, expiry, and principal."""

    access_key: str
    secret: Secret
    principal: object = None
    session_token: Secret | None = None
    expires_at: float | None = None


class KeyResolver(Protocol):
    """Looks an access key up; ``None`` when unknown. Must not log the secret."""

    def resolve(self, access_key: str) -> ResolvedKey | None: ...


class StaticKeys:
    """A fixed in-memory resolver (tests, embedded configs)."""

    __slots__ = ("_keys",)

    def __init__(self, keys: list[ResolvedKey]) -> None:
        self._keys = {k.access_key: k for k in keys}

    def resolve(self, access_key: str) -> ResolvedKey | None:
        return self._keys.get(access_key)
