"""The request context: condition keys and their values for one authorization question.

Key names are case-insensitive (stored lower-case); every value is a tuple of strings (a
single-valued key is a 1-tuple; a multivalued key such as ``aws:TagKeys`` has several; an empty
tuple counts as absent). ``RequestContext.for_request`` fills the global keys API Gateway
supports (gateway-semantics §3.8) from what the gateway knows about the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType

__all__ = ["RequestContext"]

ContextValue = str | int | float | bool | Iterable[str]


def _as_strings(value: ContextValue) -> tuple[str, ...]:
    if isinstance(value, bool):
        return ("true" if value else "false",)
    if isinstance(value, int | float):
        return (str(value),)
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Immutable condition-key values; look up with ``get(key)`` (any case)."""

    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        lowered = {k.lower(): _as_strings(v) for k, v in self.values.items()}
        object.__setattr__(self, "values", MappingProxyType(lowered))

    @classmethod
    def of(cls, values: Mapping[str, ContextValue] | None = None) -> RequestContext:
        """Build from loose values (str, bool, number, or a list for multivalued keys)."""
        return cls({k: _as_strings(v) for k, v in (values or {}).items()})

    def get(self, key: str) -> tuple[str, ...] | None:
        found = self.values.get(key.lower())
        return found if found else None

    def with_values(self, values: Mapping[str, ContextValue]) -> RequestContext:
        merged = dict(self.values)
        merged.update({k.lower(): _as_strings(v) for k, v in values.items()})
        return RequestContext(merged)

    @classmethod
    def for_request(
        cls, *, now: float, source_ip: str | None = None, secure_transport: bool | None = None,
        principal_arn: str | None = None, principal_account: str | None = None,
        principal_type: str | None = None, userid: str | None = None,
        username: str | None = None, principal_tags: Mapping[str, str] | None = None,
        request_tags: Mapping[str, str] | None = None, source_vpc: str | None = None,
        source_vpce: str | None = None, user_agent: str | None = None,
        referer: str | None = None, source_arn: str | None = None,
        token_issue_time: float | None = None, extra: Mapping[str, ContextValue] | None = None,
    ) -> RequestContext:
        """The global keys for one request; a key whose value is None is left absent.

        ``aws:userid`` is present for every request (``anonymous`` when no principal), as AWS
        documents; ``aws:username`` only for IAM users.
        """
        stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        raw: dict[str, ContextValue | None] = {
            "aws:CurrentTime": stamp,
            "aws:EpochTime": str(int(now)),
            "aws:SecureTransport": secure_transport,
            "aws:SourceIp": source_ip,
            "aws:SourceVpc": source_vpc,
            "aws:SourceVpce": source_vpce,
            "aws:UserAgent": user_agent,
            "aws:Referer": referer,
            "aws:SourceArn": source_arn,
            "aws:PrincipalArn": principal_arn,
            "aws:PrincipalAccount": principal_account,
            "aws:PrincipalType": principal_type,
            "aws:userid": userid if userid is not None else (
                "anonymous" if principal_arn is None else None),
            "aws:username": username,
        }
        if token_issue_time is not None:
            raw["aws:TokenIssueTime"] = datetime.fromtimestamp(token_issue_time, UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ")
        for tag, value in (principal_tags or {}).items():
            raw[f"aws:PrincipalTag/{tag}"] = value
        for tag, value in (request_tags or {}).items():
            raw[f"aws:RequestTag/{tag}"] = value
        if request_tags:
            raw["aws:TagKeys"] = list(request_tags)
        raw.update(extra or {})
        return cls.of({k: v for k, v in raw.items() if v is not None})
