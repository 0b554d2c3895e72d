"""``?time=server``: the scripts read Redis TIME instead of the caller's clock. Only
time-independent outcomes are asserted (real time moves on its own)."""

from __future__ import annotations

import asyncio

import pytest

from bastion.clock import FrozenClock
from bastion.state import open_storage
from tests.redis_server import RedisServer
from tests.state.conftest import redis_uri

pytestmark = [pytest.mark.redis, pytest.mark.e2e]


async def test_every_script_runs_on_server_time(
    redis_server: RedisServer, clock: FrozenClock
) -> None:
    s = open_storage(redis_uri(redis_server, time="server"), clock)
    try:
        rs = await asyncio.gather(*(s.hit_window("w", 10, 600) for _ in range(150)))
        assert sum(r.allowed for r in rs) == 10
        assert all(r.reset_at > clock.time() for r in rs)  # real time, not the frozen 2023
        bs = await asyncio.gather(*(s.token_bucket("b", 0.001, 5) for _ in range(20)))
        assert sum(b.allowed for b in bs) == 5
        await s.set("k", b"v", 600)
        assert await s.get("k") == b"v"
        assert not await s.set_if_absent("k", 600)
        assert await s.delete("k")
        assert await s.hincr("h", "n", 2, 600) == 2
        assert await s.hget_all("h") == {"n": b"2"}
        assert await s.hdel("h", "n")
        await s.sadd("s", "m", 600)
        assert await s.sismember("s", "m")
        assert list(await s.smembers("s")) == ["m"]
        assert await s.srem("s", "m")
        far = 4_102_444_800.0  # 2100-01-01: reset_at is not checked against the local clock
        assert (await s.fixed_window("q", 1, far)).allowed
        assert not (await s.fixed_window("q", 1, far)).allowed
    finally:
        await s.close()
