"""In-process storage: the default backend, nothing to install, one process only.

Every verb runs without an ``await`` inside, so on one event loop each verb is atomic by
construction; a ``threading.Lock`` additionally makes it safe when handlers run in threads.
Time comes only from the injected ``Clock`` (tests drive a ``FrozenClock``, never sleep).

Bounded: at most ``max_keys`` entries (all verb families together) and at most ``max_bytes`` of
key/value payload (the caches: a response body is the only big value). Every entry has an
expiry; expired entries are dropped when touched and swept incrementally from a heap on every
write, so idle keys do not accumulate. When the store is full of live entries the least recently
used one is evicted and counted in ``evictions`` (an evicted rate-limit key forgets its history,
so size ``max_keys`` above the number of keys live in one window); when the payload budget is
exceeded, the least recently used *key/value* entries go first, so a large cache never pushes
out rate-limit state.
"""

from __future__ import annotations

import heapq
import math
import threading
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from dataclasses import dataclass
from typing import cast

from bastion.clock import Clock
from bastion.errors import StorageError
from bastion.state.base import (
    WINDOW_SLOTS,
    BucketResult,
    WindowResult,
    check_bucket,
    check_cost,
    check_field,
    check_ttl,
    check_window,
    slot_width,
)

__all__ = ["MemoryStorage"]

_SWEEP_BUDGET = 64  # expired heap entries examined per write: bounded work per call

_Key = tuple[str, str]


@dataclass(slots=True)
class _Entry:
    value: object
    expires_at: float


@dataclass(slots=True)
class _Log:
    """A sliding log: ``times`` sorted, ``counts[i]`` hits stamped ``times[i]``, ``total`` hits."""

    times: list[float]
    counts: list[int]
    total: int


def _leave_time(log: _Log, excess: int) -> float:
    """The stamp of the entry whose departure brings ``excess`` hits out of the window."""
    gone = 0
    for t, c in zip(log.times, log.counts, strict=True):
        gone += c
        if gone >= excess:
            return t
    return log.times[-1]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    ts: float


class MemoryStorage:
    """A bounded, clock-driven, in-process ``Storage``."""

    def __init__(
        self,
        clock: Clock,
        *,
        max_keys: int = 100_000,
        max_bytes: int = 256 * 1024 * 1024,
        window_slots: int = WINDOW_SLOTS,
    ) -> None:
        if window_slots < 1:
            raise ValueError("window_slots must be >= 1")
        if max_keys < 1:
            raise ValueError("max_keys must be >= 1")
        if max_bytes < 1:
            raise ValueError("max_bytes must be >= 1")
        self._clock = clock
        self._max_keys = max_keys
        self._max_bytes = max_bytes
        self._slots = window_slots
        self._entries: OrderedDict[_Key, _Entry] = OrderedDict()
        self._kv_sizes: OrderedDict[_Key, int] = OrderedDict()  # LRU order of payload entries
        self._bytes = 0
        self._heap: list[tuple[float, _Key]] = []
        self._lock = threading.Lock()
        self._closed = False
        self.evictions = 0

    def __repr__(self) -> str:
        return f"MemoryStorage(keys={len(self._entries)}, max_keys={self._max_keys})"

    @property
    def payload_bytes(self) -> int:
        """Bytes of key/value payload held (the quantity ``max_bytes`` bounds)."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    # -- bookkeeping -------------------------------------------------------------------------

    def _now(self) -> float:
        if self._closed:
            raise StorageError("storage is closed")
        return self._clock.time()

    def _live(self, k: _Key, now: float) -> _Entry | None:
        entry = self._entries.get(k)
        if entry is None:
            return None
        if entry.expires_at <= now:
            self._remove(k)
            return None
        self._entries.move_to_end(k)
        if k in self._kv_sizes:
            self._kv_sizes.move_to_end(k)
        return entry

    def _remove(self, k: _Key) -> None:
        self._entries.pop(k, None)
        self._bytes -= self._kv_sizes.pop(k, 0)

    def _put_kv(self, k: _Key, value: bytes, expires_at: float, now: float) -> None:
        if len(value) > self._max_bytes:
            self._remove(k)  # larger than the whole budget: not kept, and flushes nothing
            return
        self._put(k, bytes(value), expires_at, now)
        self._account(k, len(value))

    def _account(self, k: _Key, size: int) -> None:
        """Charge a key/value payload and evict LRU payloads until within ``max_bytes``."""
        self._bytes += size - self._kv_sizes.get(k, 0)
        self._kv_sizes[k] = size
        self._kv_sizes.move_to_end(k)
        while self._bytes > self._max_bytes:
            self._remove(next(iter(self._kv_sizes)))
            self.evictions += 1

    def _put(self, k: _Key, value: object, expires_at: float, now: float) -> None:
        self._sweep(now)
        entry = self._entries.get(k)
        if entry is not None:
            entry.value = value
            self._entries.move_to_end(k)
            if entry.expires_at == expires_at:
                return
            entry.expires_at = expires_at
        else:
            while len(self._entries) >= self._max_keys:
                self._remove(next(iter(self._entries)))
                self.evictions += 1
            self._entries[k] = _Entry(value, expires_at)
        heapq.heappush(self._heap, (expires_at, k))
        if len(self._heap) > 2 * len(self._entries) + 1024:
            # refreshed TTLs leave stale heap items behind; rebuild to keep the heap bounded
            self._heap = [(e.expires_at, key) for key, e in self._entries.items()]
            heapq.heapify(self._heap)

    def _sweep(self, now: float) -> None:
        heap = self._heap
        for _ in range(_SWEEP_BUDGET):
            if not heap or heap[0][0] > now:
                return
            _, k = heapq.heappop(heap)
            entry = self._entries.get(k)
            if entry is not None and entry.expires_at <= now:
                self._remove(k)

    # -- rate strategies ---------------------------------------------------------------------

    async def hit_window(
        self, key: str, limit: int, window_s: float, cost: int = 1
    ) -> WindowResult:
        check_window(limit, window_s)
        check_cost(cost)
        with self._lock:
            now = self._now()
            k = ("w", key)
            entry = self._live(k, now)
            log = cast(_Log, entry.value) if entry is not None else _Log([], [], 0)
            cut = bisect_right(log.times, now - window_s)
            if cut:
                log.total -= sum(log.counts[:cut])
                del log.times[:cut], log.counts[:cut]
            count = log.total
            need = max(cost, 1)
            allowed = count + need <= limit
            if allowed and cost:
                width = slot_width(limit, window_s, self._slots)
                at = now if width == 0.0 else (math.floor(now / width) + 1) * width
                i = bisect_left(log.times, at)
                if i < len(log.times) and log.times[i] == at:
                    log.counts[i] += cost
                else:
                    log.times.insert(i, at)
                    log.counts.insert(i, cost)
                log.total += cost
                count += cost
            if log.times:
                self._put(k, log, log.times[-1] + window_s, now)
            else:
                self._remove(k)
            if allowed:
                retry = 0.0
            elif need > limit:
                retry = math.inf
            else:
                retry = _leave_time(log, count - (limit - need)) + window_s - now
            reset_at = log.times[0] + window_s if log.times else now
            return WindowResult(allowed, count, limit, reset_at, retry)

    async def fixed_window(
        self, key: str, limit: int | None, reset_at: float, cost: int = 1
    ) -> WindowResult:
        check_window(limit, 1.0)
        check_cost(cost)
        with self._lock:
            now = self._now()
            if not reset_at > now:
                raise ValueError("reset_at must lie in the future; use period_end(period, now)")
            k = ("f", f"{key}@{reset_at!r}")
            entry = self._live(k, now)
            count = cast(int, entry.value) if entry is not None else 0
            need = max(cost, 1)
            allowed = limit is None or count + need <= limit
            if allowed and cost:
                count += cost
                self._put(k, count, reset_at, now)
            retry = 0.0 if allowed else reset_at - now
            shown = limit if limit is not None else 0
            return WindowResult(allowed, count, shown, reset_at, retry)

    async def token_bucket(
        self, key: str, rate: float, burst: int, cost: int = 1
    ) -> BucketResult:
        check_bucket(rate, burst)
        check_cost(cost)
        with self._lock:
            now = self._now()
            k = ("b", key)
            entry = self._live(k, now)
            if entry is None:
                state = _Bucket(float(burst), now)
            else:
                state = cast(_Bucket, entry.value)
                if now > state.ts:
                    state.tokens = min(float(burst), state.tokens + (now - state.ts) * rate)
                    state.ts = now
            need = max(cost, 1)
            allowed = state.tokens >= need
            if allowed:
                state.tokens -= cost
                retry = 0.0
            elif need > burst:
                retry = math.inf
            else:
                retry = (need - state.tokens) / rate
            self._put(k, state, now + (burst - state.tokens) / rate, now)
            return BucketResult(allowed, state.tokens, retry)

    # -- key/value -----------------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._live(("k", key), self._now())
            return cast(bytes, entry.value) if entry is not None else None

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        check_ttl(ttl)
        with self._lock:
            now = self._now()
            self._put_kv(("k", key), value, now + ttl, now)

    async def set_if_absent(self, key: str, ttl: float, value: bytes = b"1") -> bool:
        check_ttl(ttl)
        with self._lock:
            now = self._now()
            if self._live(("k", key), now) is not None:
                return False
            self._put_kv(("k", key), value, now + ttl, now)
            return True

    async def delete(self, key: str) -> bool:
        with self._lock:
            found = self._live(("k", key), self._now()) is not None
            self._remove(("k", key))
            return found

    # -- hashes --------------------------------------------------------------------------------

    def _hash(self, key: str, now: float) -> dict[str, bytes]:
        entry = self._live(("h", key), now)
        return cast(dict[str, bytes], entry.value) if entry is not None else {}

    async def hget_all(self, key: str) -> dict[str, bytes]:
        with self._lock:
            return dict(self._hash(key, self._now()))

    async def hset(self, key: str, fields: dict[str, bytes], ttl: float) -> None:
        check_ttl(ttl)
        for field in fields:
            check_field(field)
        with self._lock:
            now = self._now()
            h = self._hash(key, now)
            h.update({f: bytes(v) for f, v in fields.items()})
            self._put(("h", key), h, now + ttl, now)

    async def hincr(self, key: str, field: str, amount: int, ttl: float) -> int:
        check_ttl(ttl)
        check_field(field)
        with self._lock:
            now = self._now()
            h = self._hash(key, now)
            try:
                value = int(h.get(field, b"0")) + amount
            except ValueError as exc:
                raise StorageError("hash value is not an integer", exc) from exc
            h[field] = str(value).encode()
            self._put(("h", key), h, now + ttl, now)
            return value

    async def hdel(self, key: str, field: str) -> bool:
        with self._lock:
            h = self._hash(key, self._now())
            return h.pop(field, None) is not None

    # -- sets with expiring members ------------------------------------------------------------

    def _set(self, key: str, now: float) -> dict[str, float]:
        entry = self._live(("s", key), now)
        if entry is None:
            return {}
        members = cast(dict[str, float], entry.value)
        for m in [m for m, exp in members.items() if exp <= now]:
            del members[m]
        return members

    async def sadd(self, key: str, member: str, ttl: float) -> None:
        check_ttl(ttl)
        with self._lock:
            now = self._now()
            members = self._set(key, now)
            members[member] = now + ttl
            self._put(("s", key), members, max(members.values()), now)

    async def sismember(self, key: str, member: str) -> bool:
        with self._lock:
            return member in self._set(key, self._now())

    async def smembers(self, key: str) -> dict[str, float]:
        with self._lock:
            return dict(self._set(key, self._now()))

    async def srem(self, key: str, member: str) -> bool:
        with self._lock:
            return self._set(key, self._now()).pop(member, None) is not None

    async def ping(self) -> None:
        with self._lock:
            self._now()

    async def close(self) -> None:
        with self._lock:
            self._closed = True
            self._entries.clear()
            self._kv_sizes.clear()
            self._bytes = 0
            self._heap.clear()
