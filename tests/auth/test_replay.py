"""The nonce cache: one atomic check-and-record, expiry on the injected clock, bounded size."""

from __future__ import annotations

import threading

import pytest

from bastion.auth.replay import MemoryNonceCache, NonceCache
from bastion.clock import FrozenClock


def test_protocol_conformance(clock: FrozenClock) -> None:
    cache: NonceCache = MemoryNonceCache(clock)
    assert cache.seen("a", 10) is False


def test_second_use_is_seen_until_ttl(clock: FrozenClock) -> None:
    cache = MemoryNonceCache(clock)
    assert not cache.seen("sig", 300)
    assert cache.seen("sig", 300)
    clock.advance(299)
    assert cache.seen("sig", 300)
    clock.advance(1)
    assert not cache.seen("sig", 300)  # expired: recorded afresh
    assert cache.seen("sig", 300)


def test_expired_entries_are_purged(clock: FrozenClock) -> None:
    cache = MemoryNonceCache(clock)
    for i in range(100):
        cache.seen(f"k{i}", 10)
    assert len(cache) == 100
    clock.advance(11)
    cache.seen("new", 10)
    assert len(cache) == 1


def test_size_is_bounded(clock: FrozenClock) -> None:
    cache = MemoryNonceCache(clock, max_entries=10)
    for i in range(50):
        cache.seen(f"k{i}", 100 + i)
    assert len(cache) <= 10
    assert cache.seen("k49", 100)  # the longest-lived entries are kept


def test_zero_ttl_is_not_remembered(clock: FrozenClock) -> None:
    cache = MemoryNonceCache(clock)
    assert not cache.seen("x", 0)
    assert not cache.seen("x", 0)


def test_invalid_bound() -> None:
    with pytest.raises(ValueError):
        MemoryNonceCache(FrozenClock(), max_entries=0)


def test_concurrent_first_use_wins_once(clock: FrozenClock) -> None:
    cache = MemoryNonceCache(clock)
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        results.append(cache.seen("same", 300))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(False) == 1
