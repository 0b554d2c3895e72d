"""What the Redis backend leaves in Redis: bounded logs, a TTL on every key, nothing else."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import redis.asyncio as aioredis

from bastion.clock import FrozenClock
from bastion.state import open_storage
from tests.redis_server import RedisServer
from tests.state.conftest import redis_uri

pytestmark = [pytest.mark.redis, pytest.mark.e2e]


async def test_every_key_expires_and_logs_stay_bounded(
    redis_server: RedisServer, clock: FrozenClock
) -> None:
    uri = redis_uri(redis_server)
    prefix = parse_qs(urlsplit(uri).query)["prefix"][0]
    s = open_storage(uri, clock)
    raw = aioredis.Redis.from_url(redis_server.uri)
    try:
        for _ in range(3000):
            await s.hit_window("small", 20, 60)  # exact log: <= 20 entries
            await s.hit_window("large", 100_000, 60)  # per-slot log: <= 601 entries
            clock.advance(0.05)
        await s.fixed_window("quota", 5, clock.time() + 86_400)
        await s.token_bucket("bucket", 10.0, 5)
        await s.set("kv", b"v", 30)
        await s.hset("hash", {"f": b"1"}, 30)
        await s.sadd("set", "m", 30)

        found = await raw.keys(f"{prefix}*")
        keys = sorted(k.decode() if isinstance(k, bytes) else k for k in found)
        assert len(keys) == 9  # two keys per window log (entries + total), one per other verb
        for key in keys:
            ttl_ms = await raw.pttl(key)
            assert 0 < ttl_ms <= 86_401_000, key
        assert await raw.zcard(f"{prefix}w:{{small}}") == 20
        assert await raw.zcard(f"{prefix}w:{{large}}") <= 601
        assert await raw.get(f"{prefix}w:{{small}}:n") == b"20"
    finally:
        await raw.aclose()
        await s.close()
