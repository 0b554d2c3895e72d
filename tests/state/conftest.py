from __future__ import annotations

import asyncio
import inspect
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest

from bastion.clock import Clock
from bastion.state import Storage, open_storage
from tests.redis_server import RedisServer, redis_binary


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests on a fresh event loop (no asyncio plugin needed)."""
    fn = pyfuncitem.obj
    if not inspect.iscoroutinefunction(fn):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    asyncio.run(fn(**{name: pyfuncitem.funcargs[name] for name in names}))
    return True


def require_redis_binary() -> str:
    """The redis-server path; skip when missing locally, fail when missing under CI."""
    binary = redis_binary()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but redis-server is missing (apt-get install redis-server)")
        pytest.skip("redis-server binary not found (apt-get install redis-server); CI unset")
    return binary


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer(require_redis_binary()).start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def fresh_redis() -> Iterator[RedisServer]:
    """A private redis-server for tests that kill it."""
    server = RedisServer(require_redis_binary()).start()
    try:
        yield server
    finally:
        server.cleanup()


@dataclass(frozen=True)
class Backend:
    name: str
    uri: str

    @asynccontextmanager
    async def open(self, clock: Clock) -> AsyncIterator[Storage]:
        storage = open_storage(self.uri, clock)
        try:
            yield storage
        finally:
            await storage.close()


def redis_uri(server: RedisServer, **params: str) -> str:
    """A URI with a key prefix unique to the calling test (no flushing between tests) and
    patient timeouts: these tests are about semantics, and a loaded CI host must not turn a slow
    connect into a failure (test_redis_failure.py passes tight timeouts to test the bounds)."""
    query = {"prefix": f"t{uuid.uuid4().hex}:", "timeout": "10", "connect_timeout": "10"}
    query.update(params)
    return f"{server.uri}?" + "&".join(f"{k}={v}" for k, v in query.items())


@pytest.fixture(
    params=["memory", pytest.param("redis", marks=[pytest.mark.redis, pytest.mark.e2e])]
)
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "memory":
        return Backend("memory", "memory://")
    server: RedisServer = request.getfixturevalue("redis_server")
    return Backend("redis", redis_uri(server))
