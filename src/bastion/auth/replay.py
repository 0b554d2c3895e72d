"""Replay protection: remember each accepted signature for as long as it could still verify.

AWS accepts the same signed request again for its whole 5-minute window; Bastion optionally
refuses the second use. The store is one verb, ``seen(key, ttl) -> bool``: True if ``key`` was
already recorded and still live, otherwise record it for ``ttl`` seconds and return False, in one
atomic step (the Redis backend does it with ``SET key 1 NX PX ttl``).
"""

from __future__ import annotations

import heapq
import threading
from typing import Protocol

from bastion.clock import Clock

__all__ = ["MemoryNonceCache", "NonceCache"]


class NonceCache(Protocol):
    """One atomic check-and-record; implementations must bound their memory by ``ttl``."""

    def seen(self, key: str, ttl: float) -> bool: ...


class MemoryNonceCache:
    """In-process nonce cache on the injected clock; expired keys are purged as time passes.

    ``max_entries`` bounds memory: past it, the entries closest to expiry are dropped first
    (a flood of distinct valid signatures cannot grow the process without limit).
    """

    __slots__ = ("_clock", "_expiry", "_heap", "_lock", "_max")

    def __init__(self, clock: Clock, *, max_entries: int = 1_000_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self._clock = clock
        self._max = max_entries
        self._expiry: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._expiry)

    def _purge(self, now: float) -> None:
        heap, expiry = self._heap, self._expiry
        while heap and (heap[0][0] <= now or len(expiry) > self._max):
            at, key = heapq.heappop(heap)
            if expiry.get(key) == at:
                del expiry[key]

    def seen(self, key: str, ttl: float) -> bool:
        now = self._clock.monotonic()
        with self._lock:
            self._purge(now)
            at = self._expiry.get(key)
            if at is not None and at > now:
                return True
            until = now + max(ttl, 0.0)
            self._expiry[key] = until
            heapq.heappush(self._heap, (until, key))
            self._purge(now)
            return False
