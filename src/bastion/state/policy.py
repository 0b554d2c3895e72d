"""What the request path does when shared state is unreachable: the failure policy.

``GuardedStorage`` wraps a ``Storage`` and never raises ``StorageError``: when the backend fails,
the configured mode for the *feature* asking decides the answer, the decision is counted in
``DegradedCounter`` (read by the metrics layer) and logged (at most one line per feature per
``log_every`` seconds, with the number of suppressed lines). Arguments that are bugs
(``ValueError``) still raise: a policy hides outages, not mistakes.

While the backend is failing, a small circuit breaker answers from policy at once for
``breaker_s`` seconds (monotonic clock) instead of making every request wait out a connect
timeout; then one probe call goes through, and its success closes the breaker. So an outage
costs each request nothing and recovery is noticed within ``breaker_s``.

``OPEN`` lets the request through as if state said yes (a cache miss, an admitted hit, a fresh
nonce, not banned); ``CLOSED`` refuses it (a blocked hit, a replayed nonce, banned, an unusable
cached decision). Defaults follow the availability/security trade-off of each feature: quotas,
authorizer decisions and replay nonces fail closed (a paying quota or a forged signature must not
pass because Redis blinked); caches, throttling, WAF rate rules, collections and ban lookups fail
open (they protect capacity, and refusing all traffic is the outage an attacker wants).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from bastion.clock import Clock
from bastion.errors import StorageError
from bastion.state.base import BucketResult, Storage, WindowResult

__all__ = [
    "DEFAULT_POLICY",
    "DegradedCounter",
    "FailMode",
    "Feature",
    "GuardedStorage",
    "Read",
]

_T = TypeVar("_T")
_log = logging.getLogger("bastion.state")


class FailMode(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Feature(StrEnum):
    """The consumers of shared state, each with its own failure mode."""

    RATE_RULE = "rate_rule"  # WAF rate-based rules
    THROTTLE = "throttle"  # API Gateway token buckets
    QUOTA = "quota"  # usage-plan quotas
    AUTHORIZER_CACHE = "authorizer_cache"  # cached authorizer decisions
    RESPONSE_CACHE = "response_cache"  # stage response cache
    REPLAY = "replay"  # SigV4 / nonce replay protection
    COLLECTION = "collection"  # CRS persistent collections
    DECISION = "decision"  # ban decisions


DEFAULT_POLICY: Mapping[Feature, FailMode] = {
    Feature.RATE_RULE: FailMode.OPEN,
    Feature.THROTTLE: FailMode.OPEN,
    Feature.QUOTA: FailMode.CLOSED,
    Feature.AUTHORIZER_CACHE: FailMode.CLOSED,
    Feature.RESPONSE_CACHE: FailMode.OPEN,
    Feature.REPLAY: FailMode.CLOSED,
    Feature.COLLECTION: FailMode.OPEN,
    Feature.DECISION: FailMode.OPEN,
}


@dataclass(frozen=True, slots=True)
class Read:
    """A guarded ``get``: ``value`` (None on a miss), ``allowed`` False only when the backend
    failed and the feature fails closed, ``degraded`` True whenever the backend failed."""

    value: bytes | None
    allowed: bool = True
    degraded: bool = False


class DegradedCounter:
    """Counts degraded decisions by (feature, mode); ``total`` and ``snapshot()`` for metrics."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()

    def add(self, feature: Feature, mode: FailMode) -> None:
        self._counts[(feature.value, mode.value)] += 1

    @property
    def total(self) -> int:
        return sum(self._counts.values())

    def get(self, feature: Feature, mode: FailMode | None = None) -> int:
        return sum(
            n for (f, m), n in self._counts.items()
            if f == feature.value and (mode is None or m == mode.value)
        )

    def snapshot(self) -> dict[tuple[str, str], int]:
        return dict(self._counts)


class GuardedStorage:
    """The request path's view of a ``Storage``: same verbs plus a ``feature``, never raises
    ``StorageError``."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        *,
        policy: Mapping[Feature, FailMode] | None = None,
        counter: DegradedCounter | None = None,
        log_every: float = 10.0,
        breaker_s: float = 1.0,
    ) -> None:
        self.storage = storage
        self.policy: dict[Feature, FailMode] = {**DEFAULT_POLICY, **(policy or {})}
        self.counter = counter if counter is not None else DegradedCounter()
        self._clock = clock
        self._log_every = log_every
        self._last_log: dict[Feature, float] = {}
        self._suppressed: Counter[Feature] = Counter()
        self._breaker_s = breaker_s
        self._tripped = False
        self._open_until = 0.0
        self.breaker_trips = 0  # times the breaker opened (metrics)

    def mode(self, feature: Feature) -> FailMode:
        return self.policy[feature]

    def _degrade(self, feature: Feature, verb: str, exc: StorageError) -> bool:
        """Count and log one degraded decision; True when the feature fails open."""
        mode = self.policy[feature]
        self.counter.add(feature, mode)
        now = self._clock.monotonic()
        last = self._last_log.get(feature)
        if last is not None and now - last < self._log_every:
            self._suppressed[feature] += 1
        else:
            self._last_log[feature] = now
            skipped = self._suppressed.pop(feature, 0)
            _log.warning(
                "state backend unavailable (%s); %s %s fails %s (%d similar suppressed)",
                exc, feature.value, verb, mode.value, skipped,
            )
        return mode is FailMode.OPEN

    async def _try(
        self, op: Callable[[], Awaitable[_T]]
    ) -> tuple[_T | None, StorageError | None]:
        now = self._clock.monotonic()
        if self._tripped:
            if now < self._open_until:
                return None, StorageError("state backend circuit open")
            self._open_until = now + self._breaker_s  # this call is the probe; others wait
        try:
            result = await op()
        except StorageError as exc:
            if not self._tripped and self._breaker_s > 0:
                self.breaker_trips += 1
            self._tripped = self._breaker_s > 0
            self._open_until = self._clock.monotonic() + self._breaker_s
            return None, exc
        self._tripped = False
        return result, None

    async def hit_window(
        self, feature: Feature, key: str, limit: int, window_s: float, cost: int = 1
    ) -> WindowResult:
        result, exc = await self._try(lambda: self.storage.hit_window(key, limit, window_s, cost))
        if exc is None and result is not None:
            return result
        assert exc is not None
        ok = self._degrade(feature, "hit_window", exc)
        now = self._clock.time()
        return WindowResult(ok, 0, limit, now + window_s, 0.0 if ok else 1.0, degraded=True)

    async def fixed_window(
        self, feature: Feature, key: str, limit: int | None, reset_at: float, cost: int = 1
    ) -> WindowResult:
        result, exc = await self._try(lambda: self.storage.fixed_window(key, limit, reset_at, cost))
        if exc is None and result is not None:
            return result
        assert exc is not None
        ok = self._degrade(feature, "fixed_window", exc)
        shown = limit if limit is not None else 0
        return WindowResult(ok, 0, shown, reset_at, 0.0 if ok else 1.0, degraded=True)

    async def token_bucket(
        self, feature: Feature, key: str, rate: float, burst: int, cost: int = 1
    ) -> BucketResult:
        result, exc = await self._try(lambda: self.storage.token_bucket(key, rate, burst, cost))
        if exc is None and result is not None:
            return result
        assert exc is not None
        ok = self._degrade(feature, "token_bucket", exc)
        return BucketResult(ok, 0.0, 0.0 if ok else 1.0, degraded=True)

    async def get(self, feature: Feature, key: str) -> Read:
        value, exc = await self._try(lambda: self.storage.get(key))
        if exc is None:
            return Read(value)
        return Read(None, allowed=self._degrade(feature, "get", exc), degraded=True)

    async def set(self, feature: Feature, key: str, value: bytes, ttl: float) -> bool:
        """Store; False when the backend failed (the value is simply not cached)."""
        _, exc = await self._try(lambda: self.storage.set(key, value, ttl))
        if exc is None:
            return True
        self._degrade(feature, "set", exc)
        return False

    async def set_if_absent(
        self, feature: Feature, key: str, ttl: float, value: bytes = b"1"
    ) -> bool:
        """True: first sighting (accept). On failure: OPEN accepts, CLOSED treats as replay."""
        stored, exc = await self._try(lambda: self.storage.set_if_absent(key, ttl, value))
        if exc is None:
            return bool(stored)
        return self._degrade(feature, "set_if_absent", exc)

    async def delete(self, feature: Feature, key: str) -> bool:
        found, exc = await self._try(lambda: self.storage.delete(key))
        if exc is None:
            return bool(found)
        self._degrade(feature, "delete", exc)
        return False

    async def hget_all(self, feature: Feature, key: str) -> dict[str, bytes] | None:
        """The collection, or None when the backend failed and the feature fails closed
        (OPEN degrades to an empty collection)."""
        fields, exc = await self._try(lambda: self.storage.hget_all(key))
        if exc is None and fields is not None:
            return fields
        assert exc is not None
        return {} if self._degrade(feature, "hget_all", exc) else None

    async def hset(
        self, feature: Feature, key: str, fields: dict[str, bytes], ttl: float
    ) -> bool:
        _, exc = await self._try(lambda: self.storage.hset(key, fields, ttl))
        if exc is None:
            return True
        self._degrade(feature, "hset", exc)
        return False

    async def hincr(
        self, feature: Feature, key: str, field: str, amount: int, ttl: float
    ) -> int | None:
        """The new value, or None when the backend failed (the increment is lost)."""
        value, exc = await self._try(lambda: self.storage.hincr(key, field, amount, ttl))
        if exc is None:
            return value
        self._degrade(feature, "hincr", exc)
        return None

    async def hdel(self, feature: Feature, key: str, field: str) -> bool:
        removed, exc = await self._try(lambda: self.storage.hdel(key, field))
        if exc is None:
            return bool(removed)
        self._degrade(feature, "hdel", exc)
        return False

    async def sadd(self, feature: Feature, key: str, member: str, ttl: float) -> bool:
        _, exc = await self._try(lambda: self.storage.sadd(key, member, ttl))
        if exc is None:
            return True
        self._degrade(feature, "sadd", exc)
        return False

    async def sismember(self, feature: Feature, key: str, member: str) -> bool:
        """Deny-list lookup: on failure OPEN answers "not listed", CLOSED answers "listed"."""
        found, exc = await self._try(lambda: self.storage.sismember(key, member))
        if exc is None:
            return bool(found)
        return not self._degrade(feature, "sismember", exc)

    async def srem(self, feature: Feature, key: str, member: str) -> bool:
        removed, exc = await self._try(lambda: self.storage.srem(key, member))
        if exc is None:
            return bool(removed)
        self._degrade(feature, "srem", exc)
        return False

    async def close(self) -> None:
        try:  # not through the breaker: close even while the backend is failing
            await self.storage.close()
        except StorageError as exc:
            _log.warning("state backend close failed: %s", exc)
