"""The storage protocol: every piece of state that several gateway processes must agree on.

Few verbs, each one atomic on every backend, each one bounded in memory:

* ``hit_window``      exact sliding-log rate limit (WAF rate-based rules)
* ``fixed_window``    counter that resets at a period boundary (usage-plan quotas)
* ``token_bucket``    rate + burst (API Gateway throttling)
* ``get``/``set``/``set_if_absent``/``delete``   TTL key/value (authorizer and response caches,
  SigV4 replay nonces)
* ``hget_all``/``hset``/``hincr``/``hdel``     hash per key with a TTL per key (CRS persistent
  collections such as IP and GLOBAL)
* ``sadd``/``sismember``/``smembers``/``srem``  sets whose members expire one by one (ban decisions)

Why a sliding *log* for ``hit_window``: the guarantee the WAF promises is "no key gets more than
``limit`` requests in ANY window of ``window_s`` seconds, and the first request over is blocked".
Fixed windows admit up to ``2 * limit`` across a boundary and the sliding-window *counter*
(weighted previous window) is an estimate, so neither keeps that promise. A log of admitted
timestamps does: a hit at ``now`` is admitted only if fewer than ``limit`` admitted hits lie in
``(now - window_s, now]``, so any half-open interval ``[t, t + window_s)`` holds at most ``limit``
admitted hits. Only admitted hits are logged, and hits at the same instant share one entry.

Memory bound: a per-hit log costs up to ``limit`` entries per key, fine for ``limit <= slots``
(``WINDOW_SLOTS`` = 600 by default) but not for the large limits WAF rules allow (up to 2e9).
Above ``slots`` the log records hits per slot of ``window_s / slots`` seconds, stamped with the
slot's *end*: a hit is then counted until ``window_s`` after the end of its slot, at most one
slot longer than exactly. The count is never below the true count, so the guarantee above still
holds exactly (never more than ``limit`` in any window); the price is that blocking can last up
to one slot (0.17 % of the window) longer than strictly needed. Memory is therefore at most
``min(limit, slots + 1)`` entries per key, whatever the traffic.

Why not the ``limits`` library (alisaifee/limits), whose shape this module borrows (a
``WindowStats``-like result, URI-selected storages, driver errors wrapped into one
``StorageError``, Lua shipped as package data): its memory storage reads ``time.time()`` and starts
``threading.Timer`` objects, so a ``FrozenClock`` cannot drive it and tests would have to sleep; it
has no token bucket, no set-if-absent with TTL, no hashes or expiring sets, so half of the verbs
would live elsewhere anyway; and it keeps a sync and an async twin of every storage. The parts we
need fit in a few small Lua scripts and one memory class that both read an injected ``Clock``.

Keys are namespaced per verb family by the backends, so ``hit_window("k")`` and ``get("k")``
never collide. Callers still namespace by feature (``"waf:rule-7:203.0.113.9"``).
Every failure of a backend surfaces as ``bastion.errors.StorageError``; see ``policy.py`` for the
fail-open/fail-closed wrapper the request path uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = [
    "WINDOW_SLOTS",
    "BucketResult",
    "Storage",
    "WindowResult",
    "check_bucket",
    "check_cost",
    "check_field",
    "check_ttl",
    "check_window",
    "slot_width",
]


WINDOW_SLOTS = 600  # above this limit, hit_window logs per slot of window/600 (see above)


def slot_width(limit: int, window_s: float, slots: int) -> float:
    """0.0 (one entry per instant, exact) when ``limit <= slots``, else the slot width."""
    return 0.0 if limit <= slots else window_s / slots


@dataclass(frozen=True, slots=True)
class WindowResult:
    """The outcome of a window hit; maps onto ``RateLimit-*`` and ``Retry-After`` headers.

    ``count`` is the number of hits the window holds after this call (including this hit when it
    was allowed), ``reset_at`` the wall time at which the window next frees capacity (the oldest
    logged hit leaves, or the fixed period ends), ``retry_after`` the seconds until a hit of the
    same cost could be admitted (0.0 when allowed). ``degraded`` is set only by the failure-policy
    wrapper when the backend was unreachable and the decision came from policy, not from state.
    """

    allowed: bool
    count: int
    limit: int
    reset_at: float
    retry_after: float
    degraded: bool = False

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)


@dataclass(frozen=True, slots=True)
class BucketResult:
    """The outcome of a token-bucket take: ``tokens`` left after it, ``retry_after`` seconds until
    ``cost`` tokens would be available (0.0 when allowed)."""

    allowed: bool
    tokens: float
    retry_after: float
    degraded: bool = False


@runtime_checkable
class Storage(Protocol):
    """Shared mutable state. Every verb is atomic with respect to every other caller of the same
    backend (all processes sharing one Redis), and raises ``StorageError`` on backend failure.

    Times (``ttl``, ``window_s``) are seconds; ``reset_at`` is wall time from the backend's clock.
    """

    async def hit_window(
        self, key: str, limit: int, window_s: float, cost: int = 1
    ) -> WindowResult:
        """Admit ``cost`` hits if the last ``window_s`` seconds hold at most ``limit - cost``
        admitted hits; a refused hit is not logged. ``cost=0`` only reads the window."""
        ...

    async def fixed_window(
        self, key: str, limit: int | None, reset_at: float, cost: int = 1
    ) -> WindowResult:
        """Add ``cost`` to the counter of the period ending at ``reset_at`` unless that would pass
        ``limit`` (``None``: no limit, just count). A refused hit does not consume quota.
        Compute ``reset_at`` with ``bastion.state.period_end``."""
        ...

    async def token_bucket(
        self, key: str, rate: float, burst: int, cost: int = 1
    ) -> BucketResult:
        """Take ``cost`` tokens from a bucket holding at most ``burst`` tokens and refilled at
        ``rate`` tokens per second (a new bucket starts full). ``cost=0`` only reads it."""
        ...

    async def get(self, key: str) -> bytes | None:
        """The value stored under ``key``, or ``None`` when absent or expired."""
        ...

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        """Store ``value`` for ``ttl`` seconds, replacing any previous value."""
        ...

    async def set_if_absent(self, key: str, ttl: float, value: bytes = b"1") -> bool:
        """Store ``value`` only if ``key`` holds no live value; True when this call stored it
        (a fresh nonce), False when it was already there (a replay)."""
        ...

    async def delete(self, key: str) -> bool:
        """Remove a key/value entry; True when something live was removed."""
        ...

    async def hget_all(self, key: str) -> dict[str, bytes]:
        """Every field of the hash at ``key`` (empty when absent or expired)."""
        ...

    async def hset(self, key: str, fields: dict[str, bytes], ttl: float) -> None:
        """Set ``fields`` in the hash and (re)start its ``ttl``."""
        ...

    async def hincr(self, key: str, field: str, amount: int, ttl: float) -> int:
        """Add ``amount`` to an integer field (absent counts as 0), (re)start the hash's ``ttl``,
        and return the new value."""
        ...

    async def hdel(self, key: str, field: str) -> bool:
        """Remove one field; True when it existed."""
        ...

    async def sadd(self, key: str, member: str, ttl: float) -> None:
        """Add ``member`` to the set for ``ttl`` seconds (re-adding extends or shortens it)."""
        ...

    async def sismember(self, key: str, member: str) -> bool:
        """True while ``member`` is in the set and has not expired."""
        ...

    async def smembers(self, key: str) -> dict[str, float]:
        """Every live member with its expiry (wall time)."""
        ...

    async def srem(self, key: str, member: str) -> bool:
        """Remove a member; True when it was live."""
        ...

    async def ping(self) -> None:
        """Check the backend answers (health endpoints); raises ``StorageError`` when not."""
        ...

    async def close(self) -> None:
        """Release connections; the storage is unusable afterwards."""
        ...


def check_cost(cost: int) -> None:
    """Reject a negative or non-integral cost (a bug in the caller, not a backend failure)."""
    if isinstance(cost, bool) or not isinstance(cost, int) or cost < 0:
        raise ValueError(f"cost must be an integer >= 0, got {cost!r}")


def check_ttl(ttl: float) -> None:
    """Reject a TTL that is not a finite positive number: every entry must expire."""
    if not (isinstance(ttl, int | float) and math.isfinite(ttl) and ttl > 0):
        raise ValueError(f"ttl must be a finite number of seconds > 0, got {ttl!r}")


def check_window(limit: int | None, window_s: float) -> None:
    """Reject a negative limit or a window that is not a finite positive duration."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be an integer >= 0, got {limit!r}")
    if not (isinstance(window_s, int | float) and math.isfinite(window_s) and window_s > 0):
        raise ValueError(f"window must be a finite number of seconds > 0, got {window_s!r}")


def check_bucket(rate: float, burst: int) -> None:
    """Reject a bucket that never refills (a rate of 0 is "block everything": decide it without
    storage) or a negative burst."""
    if not (isinstance(rate, int | float) and math.isfinite(rate) and rate > 0):
        raise ValueError(f"rate must be a finite number > 0, got {rate!r}")
    if isinstance(burst, bool) or not isinstance(burst, int) or burst < 0:
        raise ValueError(f"burst must be an integer >= 0, got {burst!r}")


def check_field(field: str) -> None:
    """Hash field names starting with NUL are reserved for the backends' own bookkeeping."""
    if not field or field.startswith("\x00"):
        raise ValueError("hash field names must be non-empty and must not start with NUL")
