"""The memory backend stays bounded: LRU eviction at max_keys, expired entries swept."""

from __future__ import annotations

from bastion.clock import FrozenClock
from bastion.errors import StorageError
from bastion.state import MemoryStorage


async def test_max_keys_evicts_least_recently_used(clock: FrozenClock) -> None:
    s = MemoryStorage(clock, max_keys=3)
    for k in ("a", "b", "c"):
        await s.set(k, k.encode(), 60)
    assert await s.get("a") == b"a"  # touch: "b" is now the oldest
    await s.set("d", b"d", 60)
    assert len(s) == 3
    assert s.evictions == 1
    assert await s.get("b") is None
    assert [await s.get(k) for k in ("a", "c", "d")] == [b"a", b"c", b"d"]


async def test_expired_entries_are_swept_without_being_read(clock: FrozenClock) -> None:
    s = MemoryStorage(clock, max_keys=10_000)
    for i in range(1000):
        await s.set(f"k{i}", b"v", 10)
        await s.hit_window(f"w{i}", 5, 10)
    assert len(s) == 2000
    clock.advance(10)
    for i in range(100):  # each write sweeps a bounded batch of expired entries
        await s.set(f"n{i}", b"v", 10)
    assert len(s) == 100
    assert s.evictions == 0


async def test_sliding_log_is_capped_at_limit_entries(clock: FrozenClock) -> None:
    s = MemoryStorage(clock)
    for _ in range(10_000):
        await s.hit_window("hot", 25, 600)
        clock.advance(0.01)
    log = s._entries[("w", "hot")].value
    assert len(log.times) == 25 and log.total == 25  # type: ignore[attr-defined]


async def test_large_limits_log_per_slot(clock: FrozenClock) -> None:
    s = MemoryStorage(clock, window_slots=600)
    admitted = 0
    for _ in range(200_000):  # 2,000 s at 100 hits/s against 10,000 per 300 s
        admitted += (await s.hit_window("big", 10_000, 300)).allowed
        clock.advance(0.01)
    log = s._entries[("w", "big")].value
    assert len(log.times) <= 601  # type: ignore[attr-defined]
    # slots only ever count a hit for longer: never more than the exact log would admit
    assert 10_000 * 6 <= admitted <= 10_000 * (2000 / 300 + 1)


async def test_refreshing_ttls_keeps_the_heap_bounded(clock: FrozenClock) -> None:
    s = MemoryStorage(clock)
    for _ in range(50_000):
        await s.token_bucket("one", 10.0, 5)
        clock.advance(0.001)
    assert len(s._heap) <= 2 * len(s) + 1024


async def test_closed_storage_raises_storage_error(clock: FrozenClock) -> None:
    s = MemoryStorage(clock)
    await s.close()
    try:
        await s.get("k")
    except StorageError:
        pass
    else:
        raise AssertionError("a closed storage must raise StorageError")


async def test_payload_budget_evicts_cache_entries_only(clock: FrozenClock) -> None:
    s = MemoryStorage(clock, max_bytes=1000)
    assert (await s.hit_window("rate", 1, 60)).allowed
    for i in range(5):
        await s.set(f"body{i}", b"x" * 300, 60)
    assert s.payload_bytes <= 1000
    kept = [await s.get(f"body{i}") is not None for i in range(5)]
    assert kept == [False, False, True, True, True]
    assert not (await s.hit_window("rate", 1, 60)).allowed  # rate state survived the cache
    await s.set("body4", b"y", 60)  # replacing a value re-charges its size
    assert s.payload_bytes == 601
    assert await s.delete("body3")
    assert s.payload_bytes == 301
    clock.advance(60)
    await s.set("n", b"z", 60)
    assert await s.get("body4") is None
    assert s.payload_bytes == 1
    await s.set("huge", b"h" * 5000, 60)  # larger than the budget: not kept, flushes nothing
    assert await s.get("huge") is None
    assert await s.get("n") == b"z"
    assert s.payload_bytes == 1
