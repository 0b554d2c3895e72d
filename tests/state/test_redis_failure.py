"""Kill redis-server mid-test: calls fail fast with StorageError, the policy decides and counts,
and the same storage object reconnects by itself once Redis is back on the same port."""

from __future__ import annotations

import os
import signal
import time

import pytest

from bastion.clock import FrozenClock
from bastion.errors import StorageError
from bastion.state import Feature, GuardedStorage, open_storage
from tests.redis_server import RedisServer
from tests.state.conftest import redis_uri

pytestmark = [pytest.mark.e2e, pytest.mark.redis]


async def test_kill_then_restart(fresh_redis: RedisServer, clock: FrozenClock) -> None:
    storage = open_storage(redis_uri(fresh_redis, timeout="0.2", connect_timeout="0.2"), clock)
    guarded = GuardedStorage(storage, clock)
    try:
        assert (await storage.hit_window("k", 5, 60)).allowed
        await storage.set("c", b"cached", 60)

        fresh_redis.kill()
        for op in (
            storage.hit_window("k", 5, 60), storage.get("c"), storage.sadd("s", "m", 9),
            storage.ping(),
        ):
            started = time.monotonic()
            with pytest.raises(StorageError) as info:
                await op
            assert time.monotonic() - started < 1.6  # bounded: 2 x (connect + read timeout)
            assert info.value.storage_error is not None

        quota = await guarded.fixed_window(Feature.QUOTA, "plan", 10, clock.time() + 60)
        rate = await guarded.hit_window(Feature.RATE_RULE, "ip", 10, 60)
        cache = await guarded.get(Feature.RESPONSE_CACHE, "c")
        auth = await guarded.get(Feature.AUTHORIZER_CACHE, "tok")
        assert (quota.allowed, quota.degraded) == (False, True)
        assert (rate.allowed, rate.degraded) == (True, True)
        assert (cache.value, cache.allowed) == (None, True)
        assert auth.allowed is False
        assert guarded.counter.total == 4

        assert guarded.breaker_trips == 1  # only the first call waited for Redis

        fresh_redis.start()  # same port, empty data, empty script cache
        still = await guarded.hit_window(Feature.RATE_RULE, "k", 5, 60)
        assert still.degraded  # the breaker holds for breaker_s before probing again
        clock.advance(1.0)
        r = await guarded.hit_window(Feature.RATE_RULE, "k", 5, 60)
        assert (r.allowed, r.degraded, r.count) == (True, False, 1)
        assert (await guarded.get(Feature.RESPONSE_CACHE, "c")).value is None
        await storage.set("c", b"again", 60)
        assert await storage.get("c") == b"again"
        assert guarded.counter.total == 5
    finally:
        await storage.close()


async def test_hung_server_times_out(fresh_redis: RedisServer, clock: FrozenClock) -> None:
    storage = open_storage(redis_uri(fresh_redis, timeout="0.2", connect_timeout="0.2"), clock)
    try:
        await storage.set("k", b"v", 60)
        os.kill(fresh_redis.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            with pytest.raises(StorageError):
                await storage.get("k")
            assert time.monotonic() - started < 1.6
        finally:
            os.kill(fresh_redis.pid, signal.SIGCONT)
        assert await storage.get("k") == b"v"  # the timed-out connection was replaced
    finally:
        await storage.close()


async def test_restart_between_calls_is_invisible(
    fresh_redis: RedisServer, clock: FrozenClock
) -> None:
    # the pooled connection is dead after the restart; the one immediate retry replaces it and
    # the Lua scripts are reloaded (NOSCRIPT) without the caller noticing
    storage = open_storage(redis_uri(fresh_redis), clock)
    try:
        assert (await storage.token_bucket("b", 1.0, 2)).allowed
        fresh_redis.kill()
        fresh_redis.start()
        r = await storage.token_bucket("b", 1.0, 2)
        assert (r.allowed, r.tokens) == (True, 1.0)  # a fresh server: a full bucket again
    finally:
        await storage.close()
