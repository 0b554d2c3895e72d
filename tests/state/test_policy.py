"""The failure policy: degraded decisions follow the per-feature mode, are counted and logged,
and nothing raises to the request path. The failing backend is a real closed storage."""

from __future__ import annotations

import logging

import pytest

from bastion.clock import FrozenClock
from bastion.state import (
    DEFAULT_POLICY,
    FailMode,
    Feature,
    GuardedStorage,
    MemoryStorage,
)


async def _down(clock: FrozenClock, **policy: FailMode) -> GuardedStorage:
    storage = MemoryStorage(clock)
    await storage.close()  # every verb now raises StorageError
    return GuardedStorage(storage, clock, policy={Feature(k): v for k, v in policy.items()})


def test_default_policy_covers_every_feature() -> None:
    assert set(DEFAULT_POLICY) == set(Feature)
    assert DEFAULT_POLICY[Feature.QUOTA] is FailMode.CLOSED
    assert DEFAULT_POLICY[Feature.AUTHORIZER_CACHE] is FailMode.CLOSED
    assert DEFAULT_POLICY[Feature.RESPONSE_CACHE] is FailMode.OPEN


async def test_healthy_backend_passes_through(clock: FrozenClock) -> None:
    g = GuardedStorage(MemoryStorage(clock), clock)
    r = await g.hit_window(Feature.RATE_RULE, "k", 1, 60)
    assert r.allowed and not r.degraded
    assert not (await g.hit_window(Feature.RATE_RULE, "k", 1, 60)).allowed
    assert await g.set(Feature.RESPONSE_CACHE, "c", b"body", 300)
    assert (await g.get(Feature.RESPONSE_CACHE, "c")).value == b"body"
    assert await g.set_if_absent(Feature.REPLAY, "n", 300)
    assert not await g.set_if_absent(Feature.REPLAY, "n", 300)
    assert g.counter.total == 0
    await g.close()


async def test_defaults_when_backend_is_down(clock: FrozenClock) -> None:
    g = await _down(clock)
    q = await g.fixed_window(Feature.QUOTA, "plan", 100, clock.time() + 60)
    assert (q.allowed, q.degraded) == (False, True)
    auth = await g.get(Feature.AUTHORIZER_CACHE, "token")
    assert (auth.value, auth.allowed, auth.degraded) == (None, False, True)
    cache = await g.get(Feature.RESPONSE_CACHE, "GET /pets")
    assert (cache.value, cache.allowed, cache.degraded) == (None, True, True)
    assert not await g.set(Feature.RESPONSE_CACHE, "GET /pets", b"x", 300)
    rate = await g.hit_window(Feature.RATE_RULE, "ip", 10, 300)
    assert (rate.allowed, rate.degraded) == (True, True)
    bucket = await g.token_bucket(Feature.THROTTLE, "stage", 10_000.0, 5_000)
    assert (bucket.allowed, bucket.degraded) == (True, True)
    assert not await g.set_if_absent(Feature.REPLAY, "nonce", 300)  # closed: treated as replay
    assert not await g.sismember(Feature.DECISION, "bans", "1.2.3.4")  # open: not banned
    assert await g.hget_all(Feature.COLLECTION, "ip:1.2.3.4") == {}
    assert await g.hincr(Feature.COLLECTION, "ip:1.2.3.4", "score", 1, 60) is None
    assert not await g.hset(Feature.COLLECTION, "ip:1.2.3.4", {"a": b"1"}, 60)
    assert not await g.sadd(Feature.DECISION, "bans", "1.2.3.4", 60)
    assert not await g.delete(Feature.RESPONSE_CACHE, "GET /pets")
    assert not await g.hdel(Feature.COLLECTION, "ip:1.2.3.4", "a")
    assert not await g.srem(Feature.DECISION, "bans", "1.2.3.4")
    assert g.counter.total == 15
    assert g.counter.get(Feature.RESPONSE_CACHE) == 3
    assert g.counter.snapshot()[("quota", "closed")] == 1


@pytest.mark.parametrize("mode", list(FailMode))
async def test_configured_mode_wins(clock: FrozenClock, mode: FailMode) -> None:
    g = await _down(clock, quota=mode, replay=mode, decision=mode, collection=mode)
    open_ = mode is FailMode.OPEN
    assert (await g.fixed_window(Feature.QUOTA, "p", 5, clock.time() + 9)).allowed is open_
    assert await g.set_if_absent(Feature.REPLAY, "n", 9) is open_
    assert await g.sismember(Feature.DECISION, "bans", "ip") is not open_
    assert (await g.hget_all(Feature.COLLECTION, "c")) == ({} if open_ else None)
    assert g.counter.get(Feature.QUOTA, mode) == 1


async def test_degraded_log_is_rate_limited(
    clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    g = await _down(clock)
    with caplog.at_level(logging.WARNING, logger="bastion.state"):
        for _ in range(100):
            await g.get(Feature.RESPONSE_CACHE, "k")
        clock.advance(10)
        await g.get(Feature.RESPONSE_CACHE, "k")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "response_cache get fails open" in lines[0]
    assert "(99 similar suppressed)" in lines[1]
    assert g.counter.total == 101


async def test_bugs_still_raise(clock: FrozenClock) -> None:
    g = GuardedStorage(MemoryStorage(clock), clock)
    with pytest.raises(ValueError):
        await g.hit_window(Feature.RATE_RULE, "k", -1, 60)


async def test_breaker_short_circuits_then_probes(clock: FrozenClock) -> None:
    healthy = MemoryStorage(clock)
    down = MemoryStorage(clock)
    await down.close()
    g = GuardedStorage(down, clock, breaker_s=2.0)
    assert (await g.get(Feature.RESPONSE_CACHE, "k")).degraded
    assert g.breaker_trips == 1
    g.storage = healthy  # the backend comes back (same object in real life, reconnected)
    assert (await g.get(Feature.RESPONSE_CACHE, "k")).degraded  # still open: no call made
    clock.advance(2.0)
    probe = await g.get(Feature.RESPONSE_CACHE, "k")
    assert not probe.degraded
    assert await g.set(Feature.RESPONSE_CACHE, "k", b"v", 60)
    assert g.counter.total == 2
    assert g.breaker_trips == 1


async def test_failed_probe_reopens_and_close_bypasses_breaker(clock: FrozenClock) -> None:
    down = MemoryStorage(clock)
    await down.close()
    g = GuardedStorage(down, clock, breaker_s=1.0)
    await g.get(Feature.RESPONSE_CACHE, "k")
    clock.advance(1.0)
    await g.get(Feature.RESPONSE_CACHE, "k")  # the probe fails: open for another second
    assert g.breaker_trips == 1
    clock.advance(0.5)
    assert (await g.get(Feature.RESPONSE_CACHE, "k")).degraded
    await g.close()  # never raises


async def test_breaker_can_be_disabled(clock: FrozenClock) -> None:
    down = MemoryStorage(clock)
    await down.close()
    g = GuardedStorage(down, clock, breaker_s=0.0)
    for _ in range(3):
        await g.get(Feature.RESPONSE_CACHE, "k")
    assert g.counter.total == 3
    assert g.breaker_trips == 0
