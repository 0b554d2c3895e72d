"""Every storage verb, against every backend (memory and a real redis-server), on a frozen clock."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import pytest

from bastion.clock import FrozenClock
from bastion.errors import StorageError
from bastion.state import period_end
from tests.state.conftest import Backend

VECTORS = Path(__file__).parent.parent / "vectors" / "state"


def _cases(name: str) -> list[Any]:
    cases: list[dict[str, Any]] = json.loads((VECTORS / name).read_text())
    return [pytest.param(c, id=c["name"]) for c in cases]


# -- sliding log ---------------------------------------------------------------------------------


@pytest.mark.parametrize("case", _cases("windows.json"))
async def test_window_vectors(backend: Backend, clock: FrozenClock, case: dict[str, Any]) -> None:
    start = clock.time()
    async with backend.open(clock) as s:
        for t, cost, allowed, count in case["events"]:
            clock.set(start + t)
            r = await s.hit_window("k", case["limit"], case["window"], cost)
            assert (r.allowed, r.count) == (allowed, count), (t, r)
            assert r.limit == case["limit"]
            if r.allowed:
                assert r.retry_after == 0.0


async def test_window_burst_admits_exactly_limit(backend: Backend, clock: FrozenClock) -> None:
    async with backend.open(clock) as s:
        results = await asyncio.gather(*(s.hit_window("burst", 10, 60) for _ in range(150)))
        assert sum(r.allowed for r in results) == 10
        assert all(r.count == 10 for r in results if not r.allowed)
        clock.advance(59.9)
        assert not (await s.hit_window("burst", 10, 60)).allowed
        clock.advance(0.1)  # the window has passed: the whole burst has left
        again = await asyncio.gather(*(s.hit_window("burst", 10, 60) for _ in range(150)))
        assert sum(r.allowed for r in again) == 10


async def test_window_retry_after_and_reset(backend: Backend, clock: FrozenClock) -> None:
    start = clock.time()
    async with backend.open(clock) as s:
        await s.hit_window("r", 2, 60)
        clock.advance(15)
        await s.hit_window("r", 2, 60)
        clock.advance(5)
        r = await s.hit_window("r", 2, 60)
        assert not r.allowed
        assert r.retry_after == pytest.approx(40)  # the first hit leaves at start + 60
        assert r.reset_at == pytest.approx(start + 60)
        assert r.remaining == 0
        r2 = await s.hit_window("r", 2, 60, cost=2)
        assert r2.retry_after == pytest.approx(55)  # both hits must leave
        assert math.isinf((await s.hit_window("r", 2, 60, cost=3)).retry_after)


async def test_window_keys_and_windows_are_independent(
    backend: Backend, clock: FrozenClock
) -> None:
    async with backend.open(clock) as s:
        assert (await s.hit_window("a", 1, 60)).allowed
        assert (await s.hit_window("b", 1, 60)).allowed
        assert not (await s.hit_window("a", 1, 60)).allowed
        await s.set("a", b"v", 10)  # another verb family, same key name: no clash
        assert await s.get("a") == b"v"


@pytest.mark.parametrize("window", [60, 120, 300, 600])
async def test_window_sizes_hold_the_limit(
    backend: Backend, clock: FrozenClock, window: int
) -> None:
    # one hit every second for two windows: exactly `limit` per window, never more
    limit = 7
    admitted: list[float] = []
    async with backend.open(clock) as s:
        for _ in range(2 * window):
            if (await s.hit_window("w", limit, window)).allowed:
                admitted.append(clock.time())
            clock.advance(1)
    assert len(admitted) == 2 * limit
    for i, t in enumerate(admitted):
        assert sum(1 for u in admitted[i:] if u < t + window) <= limit


# -- fixed windows (quotas) ------------------------------------------------------------------------


async def test_fixed_window_quota_resets_at_period(backend: Backend, clock: FrozenClock) -> None:
    clock.set(1_764_028_800.0)  # 2025-11-25T00:00:00Z
    async with backend.open(clock) as s:
        end = period_end("DAY", clock.time())
        assert end == 1_764_028_800.0 + 86_400
        for i in range(3):
            r = await s.fixed_window("plan:key", 3, end)
            assert (r.allowed, r.count) == (True, i + 1)
        clock.advance(3600)
        r = await s.fixed_window("plan:key", 3, end)
        assert (r.allowed, r.count, r.limit) == (False, 3, 3)
        assert r.retry_after == pytest.approx(86_400 - 3600)
        assert r.reset_at == end
        clock.set(end)  # the next period starts from zero
        nxt = period_end("DAY", clock.time())
        r = await s.fixed_window("plan:key", 3, nxt, cost=2)
        assert (r.allowed, r.count) == (True, 2)
        assert not (await s.fixed_window("plan:key", 3, nxt, cost=2)).allowed
        assert (await s.fixed_window("plan:key", 3, nxt, cost=0)).count == 2


async def test_fixed_window_without_limit_counts(backend: Backend, clock: FrozenClock) -> None:
    async with backend.open(clock) as s:
        end = period_end(60, clock.time())
        counts = await asyncio.gather(*(s.fixed_window("c", None, end) for _ in range(25)))
        assert sorted(r.count for r in counts) == list(range(1, 26))
        assert all(r.allowed for r in counts)
        with pytest.raises(ValueError):
            await s.fixed_window("c", None, clock.time())


async def test_fixed_window_concurrent_quota(backend: Backend, clock: FrozenClock) -> None:
    async with backend.open(clock) as s:
        end = period_end("MONTH", clock.time())
        rs = await asyncio.gather(*(s.fixed_window("q", 40, end) for _ in range(100)))
        assert sum(r.allowed for r in rs) == 40


# -- token buckets -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", _cases("buckets.json"))
async def test_bucket_vectors(backend: Backend, clock: FrozenClock, case: dict[str, Any]) -> None:
    start = clock.time()
    async with backend.open(clock) as s:
        for t, cost, allowed, tokens in case["events"]:
            clock.set(start + t)
            r = await s.token_bucket("b", case["rate"], case["burst"], cost)
            assert r.allowed == allowed, (t, r)
            assert r.tokens == pytest.approx(tokens, abs=1e-6), (t, r)


async def test_bucket_burst_then_steady_rate(backend: Backend, clock: FrozenClock) -> None:
    rate, burst = 50.0, 20
    async with backend.open(clock) as s:
        first = await asyncio.gather(*(s.token_bucket("api", rate, burst) for _ in range(100)))
        assert sum(r.allowed for r in first) == burst
        denied = next(r for r in first if not r.allowed)
        assert denied.retry_after == pytest.approx(1 / rate)
        # then 10 s of clients asking 4x faster than the rate: admitted ~ rate * 10
        admitted = 0
        for _ in range(2000):
            clock.advance(0.005)
            admitted += (await s.token_bucket("api", rate, burst)).allowed
        assert admitted == pytest.approx(rate * 10, rel=0.05)


async def test_bucket_concurrent_takes_are_atomic(backend: Backend, clock: FrozenClock) -> None:
    async with backend.open(clock) as s:
        rs = await asyncio.gather(*(s.token_bucket("c", 1.0, 30, cost=2) for _ in range(40)))
        assert sum(r.allowed for r in rs) == 15
        assert min(r.tokens for r in rs) == pytest.approx(0)


# -- key/value -------------------------------------------------------------------------------------


async def test_kv_get_set_ttl(backend: Backend, clock: FrozenClock) -> None:
    async with backend.open(clock) as s:
        assert await s.get("x") is None
        await s.set("x", b"\x00binary\xff", 30)
        assert await s.get("x") == b"\x00binary\xff"
        clock.advance(29.9)
        assert await s.get("x") == b"\x00binary\xff"
        clock.advance(0.1)
        assert await s.get("x") is None
        await s.set("x", b"one", 30)
        await s.set("x", b"two", 5)
        assert await s.get("x") == b"two"
        assert await s.delete("x")
        assert not await s.delete("x")
        assert await s.get("x") is None


async def test_set_if_absent_is_a_nonce_cache(backend: Backend, clock: FrozenClock) -> None:
    async with backend.open(clock) as s:
        firsts = await asyncio.gather(*(s.set_if_absent("nonce:abc", 300) for _ in range(20)))
        assert sum(firsts) == 1  # exactly one caller sees the nonce as fresh
        assert await s.get("nonce:abc") == b"1"
        clock.advance(300)
        assert await s.set_if_absent("nonce:abc", 300, b"again")
        assert await s.get("nonce:abc") == b"again"


@pytest.mark.parametrize("ttl", [0, -1, math.inf, math.nan])
async def test_bad_ttl_is_a_bug_not_a_storage_error(
    backend: Backend, clock: FrozenClock, ttl: float
) -> None:
    async with backend.open(clock) as s:
        with pytest.raises(ValueError):
            await s.set("k", b"v", ttl)
        with pytest.raises(ValueError):
            await s.sadd("k", "m", ttl)


async def test_bad_arguments(backend: Backend, clock: FrozenClock) -> None:
    async with backend.open(clock) as s:
        with pytest.raises(ValueError):
            await s.hit_window("k", -1, 60)
        with pytest.raises(ValueError):
            await s.hit_window("k", 1, 0)
        with pytest.raises(ValueError):
            await s.hit_window("k", 1, 60, cost=-1)
        with pytest.raises(ValueError):
            await s.token_bucket("k", 0, 10)
        with pytest.raises(ValueError):
            await s.hset("k", {"\x00e": b"x"}, 10)


# -- hashes (persistent collections) -------------------------------------------------------------


async def test_hash_collection(backend: Backend, clock: FrozenClock) -> None:
    async with backend.open(clock) as s:
        assert await s.hget_all("ip:1.2.3.4") == {}
        await s.hset("ip:1.2.3.4", {"score": b"5", "ua": b"curl"}, 60)
        assert await s.hincr("ip:1.2.3.4", "score", 3, 60) == 8
        assert await s.hincr("ip:1.2.3.4", "new", -2, 60) == -2
        assert await s.hget_all("ip:1.2.3.4") == {"score": b"8", "ua": b"curl", "new": b"-2"}
        assert await s.hdel("ip:1.2.3.4", "ua")
        assert not await s.hdel("ip:1.2.3.4", "ua")
        clock.advance(59)
        await s.hincr("ip:1.2.3.4", "score", 1, 60)  # a write restarts the collection TTL
        clock.advance(59)
        assert await s.hget_all("ip:1.2.3.4") == {"score": b"9", "new": b"-2"}
        clock.advance(1)
        assert await s.hget_all("ip:1.2.3.4") == {}
        assert await s.hincr("ip:1.2.3.4", "score", 1, 60) == 1  # expired fields are gone


async def test_hash_concurrent_increments(backend: Backend, clock: FrozenClock) -> None:
    async with backend.open(clock) as s:
        await asyncio.gather(*(s.hincr("global", "n", 1, 60) for _ in range(50)))
        assert await s.hget_all("global") == {"n": b"50"}


async def test_hash_non_integer_increment_is_a_storage_error(
    backend: Backend, clock: FrozenClock
) -> None:
    async with backend.open(clock) as s:
        await s.hset("h", {"f": b"abc"}, 60)
        with pytest.raises(StorageError):
            await s.hincr("h", "f", 1, 60)


# -- sets with expiring members (decisions) ------------------------------------------------------


async def test_expiring_set(backend: Backend, clock: FrozenClock) -> None:
    now = clock.time()
    async with backend.open(clock) as s:
        assert not await s.sismember("bans", "1.2.3.4")
        await s.sadd("bans", "1.2.3.4", 600)
        await s.sadd("bans", "5.6.7.8", 60)
        assert await s.sismember("bans", "1.2.3.4")
        assert await s.smembers("bans") == {"1.2.3.4": now + 600, "5.6.7.8": now + 60}
        clock.advance(60)
        assert not await s.sismember("bans", "5.6.7.8")
        assert await s.smembers("bans") == {"1.2.3.4": now + 600}
        await s.sadd("bans", "1.2.3.4", 10)  # re-adding sets the new expiry
        clock.advance(10)
        assert await s.smembers("bans") == {}
        await s.sadd("bans", "9.9.9.9", 60)
        assert await s.srem("bans", "9.9.9.9")
        assert not await s.srem("bans", "9.9.9.9")
        assert not await s.sismember("bans", "9.9.9.9")


async def test_ping_then_close(backend: Backend, clock: FrozenClock) -> None:
    async with backend.open(clock) as s:
        await s.ping()
