from __future__ import annotations

import io

import pytest

from bastion.clock import FrozenClock
from bastion.state.check import state_check
from tests.redis_server import RedisServer
from tests.state.conftest import Backend, redis_uri


async def test_check_passes_on_a_live_backend(backend: Backend, clock: FrozenClock) -> None:
    out = io.StringIO()
    assert await state_check(backend.uri, clock, out) == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == 7 and all(" ok (" in line for line in lines[1:])


async def test_check_reports_bad_uri(clock: FrozenClock) -> None:
    out = io.StringIO()
    assert await state_check("mongodb://user:pw@h", clock, out) == 2
    assert "pw" not in out.getvalue()


@pytest.mark.e2e
@pytest.mark.redis
async def test_check_reports_a_dead_redis(fresh_redis: RedisServer, clock: FrozenClock) -> None:
    uri = redis_uri(fresh_redis, timeout="0.2", connect_timeout="0.2")
    fresh_redis.kill()
    out = io.StringIO()
    assert await state_check(uri, clock, out) == 1
    assert "ping FAILED: redis: ConnectionRefusedError" in out.getvalue()
