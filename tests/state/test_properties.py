"""Properties over random hit sequences: the sliding log is exact (never over, never needlessly
under), and the Redis scripts decide exactly as the memory backend does."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.clock import FrozenClock
from bastion.state import MemoryStorage, Storage, open_storage
from bastion.state.base import slot_width
from tests.redis_server import RedisServer
from tests.state.conftest import redis_uri

# (seconds since the previous hit, cost); times are multiples of 1/8 s so they are exact floats
events = st.lists(
    st.tuples(st.integers(0, 200).map(lambda n: n / 8), st.integers(0, 4)),
    min_size=1,
    max_size=60,
)
WINDOW_LIMIT = st.tuples(st.sampled_from([1.0, 5.0, 60.0]), st.integers(0, 12))
SLOTS = st.sampled_from([600, 8, 3])  # small slot counts force the per-slot log


async def _replay_window(
    storage: Storage, clock: FrozenClock, evs: list[tuple[float, int]], window: float, limit: int
) -> list[tuple[float, int, bool, int, float]]:
    out = []
    for dt, cost in evs:
        clock.advance(dt)
        r = await storage.hit_window("p", limit, window, cost)
        out.append((clock.time(), cost, r.allowed, r.count, r.retry_after))
    return out


@settings(max_examples=300, deadline=None)
@given(evs=events, wl=WINDOW_LIMIT, slots=SLOTS)
def test_sliding_log_is_exact(
    evs: list[tuple[float, int]], wl: tuple[float, int], slots: int
) -> None:
    window, limit = wl
    width = slot_width(limit, window, slots)
    clock = FrozenClock()
    storage = MemoryStorage(clock, window_slots=slots)
    log = asyncio.run(_replay_window(storage, clock, evs, window, limit))
    admitted = [(t, c) for t, c, ok, _, _ in log if ok]
    for t, cost, ok, _, retry in log:
        inside = sum(c for u, c in admitted if t - window < u <= t)
        if ok:
            assert inside <= limit  # never over, in any window ending at an admission
        else:
            # refused only when it would go over, counting hits at most one slot longer
            counted = sum(c for u, c in admitted if t - window - width < u <= t)
            assert counted + max(cost, 1) > limit
            assert retry > 0


@pytest.mark.redis
@pytest.mark.e2e
@settings(max_examples=80, deadline=None)
@given(evs=events, wl=WINDOW_LIMIT, slots=SLOTS)
def test_redis_window_matches_memory(
    redis_server: RedisServer, evs: list[tuple[float, int]], wl: tuple[float, int], slots: int
) -> None:
    window, limit = wl

    async def both() -> None:
        c1, c2 = FrozenClock(), FrozenClock()
        redis = open_storage(redis_uri(redis_server, window_slots=str(slots)), c2)
        try:
            memory = MemoryStorage(c1, window_slots=slots)
            mem = await _replay_window(memory, c1, evs, window, limit)
            red = await _replay_window(redis, c2, evs, window, limit)
        finally:
            await redis.close()
        assert red == mem

    asyncio.run(both())


@pytest.mark.redis
@pytest.mark.e2e
@settings(max_examples=40, deadline=None)
@given(evs=events, rate=st.sampled_from([0.5, 2.0, 8.0]), burst=st.integers(0, 6))
def test_redis_bucket_matches_memory(
    redis_server: RedisServer, evs: list[tuple[float, int]], rate: float, burst: int
) -> None:
    async def replay(storage: Storage, clock: FrozenClock) -> list[tuple[bool, float, float]]:
        out = []
        for dt, cost in evs:
            clock.advance(dt)
            b = await storage.token_bucket("p", rate, burst, cost)
            out.append((b.allowed, round(b.tokens, 9), round(b.retry_after, 9)))
        return out

    async def both() -> None:
        c1, c2 = FrozenClock(), FrozenClock()
        redis = open_storage(redis_uri(redis_server), c2)
        try:
            assert await replay(redis, c2) == await replay(MemoryStorage(c1), c1)
        finally:
            await redis.close()

    asyncio.run(both())


# (seconds to advance, verb, key index, ttl) for the TTL verbs
ttl_ops = st.lists(
    st.tuples(
        st.integers(0, 40).map(lambda n: n / 4),
        st.sampled_from(["set", "get", "nx", "del", "sadd", "sis", "srem", "hincr", "hall"]),
        st.integers(0, 2),
        st.sampled_from([0.5, 3.0, 10.0]),
    ),
    min_size=1,
    max_size=40,
)


async def _replay_ttl(
    storage: Storage, clock: FrozenClock, ops: list[tuple[float, str, int, float]]
) -> list[object]:
    out: list[object] = []
    for i, (dt, verb, k, ttl) in enumerate(ops):
        clock.advance(dt)
        key = f"k{k}"
        if verb == "set":
            await storage.set(key, str(i).encode(), ttl)
        elif verb == "get":
            out.append(await storage.get(key))
        elif verb == "nx":
            out.append(await storage.set_if_absent(key, ttl, str(i).encode()))
        elif verb == "del":
            out.append(await storage.delete(key))
        elif verb == "sadd":
            await storage.sadd("set", key, ttl)
        elif verb == "sis":
            out.append(await storage.sismember("set", key))
        elif verb == "srem":
            out.append(await storage.srem("set", key))
        elif verb == "hincr":
            out.append(await storage.hincr(key, "n", i, ttl))
        else:
            out.append(await storage.hget_all(key))
    out.append(await storage.smembers("set"))
    return out


@pytest.mark.redis
@pytest.mark.e2e
@settings(max_examples=60, deadline=None)
@given(ops=ttl_ops)
def test_redis_ttl_verbs_match_memory(
    redis_server: RedisServer, ops: list[tuple[float, str, int, float]]
) -> None:
    async def both() -> None:
        c1, c2 = FrozenClock(), FrozenClock()
        redis = open_storage(redis_uri(redis_server), c2)
        try:
            expected = await _replay_ttl(MemoryStorage(c1), c1, ops)
            assert await _replay_ttl(redis, c2, ops) == expected
        finally:
            await redis.close()

    asyncio.run(both())
