"""The pipelined RESP connection under the Redis backend, against real redis-server processes:
replies reach their own callers, bounds hold, AUTH/SELECT/TLS work, and a misbehaving peer or
a stalled server fails calls instead of hanging them."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bastion.clock import FrozenClock
from bastion.errors import StorageError
from bastion.state import open_storage
from bastion.state.redis import RedisStorage
from bastion.state.resp import (
    Backlog,
    ConnectionLost,
    Endpoint,
    RespConnection,
    RespError,
    Stalled,
)
from tests.edge.certs import Pki, make_pki
from tests.redis_server import RedisServer, free_port
from tests.state.conftest import redis_uri, require_redis_binary

pytestmark = [pytest.mark.e2e, pytest.mark.redis]


def _conn(server: RedisServer, **kw: float) -> RespConnection:
    return RespConnection(Endpoint("127.0.0.1", server.port), **kw)  # type: ignore[arg-type]


async def test_concurrent_callers_each_get_their_own_reply(redis_server: RedisServer) -> None:
    conn = _conn(redis_server)
    try:
        payloads = [os.urandom(8).hex() * (i % 7 + 1) for i in range(500)]
        replies = await asyncio.gather(*(conn.call("ECHO", p) for p in payloads))
        assert replies == [p.encode() for p in payloads]
        assert conn.connects == 1   # one socket carried all of them
    finally:
        await conn.close()


async def test_a_cold_burst_never_fails_for_want_of_a_connection(
    redis_server: RedisServer, clock: FrozenClock
) -> None:
    # redis-py's blocking pool (16 connections) made some of 32 cold concurrent callers wait
    # over its 0.5 s deadline for a connection: they failed with StorageError
    storage = open_storage(redis_uri(redis_server, timeout="0.5", connect_timeout="0.5"), clock)
    try:
        results = await asyncio.gather(
            *(storage.token_bucket(f"b{i % 8}", 1000.0, 1000) for i in range(256)))
        assert all(r.allowed for r in results)
    finally:
        await storage.close()


async def test_an_error_reply_fails_only_its_own_call(redis_server: RedisServer) -> None:
    conn = _conn(redis_server)
    try:
        ok, bad, after = await asyncio.gather(
            conn.call("PING"), conn.call("NOSUCHCOMMAND", "x"), conn.call("ECHO", "still"),
            return_exceptions=True)
        assert ok == b"PONG" and after == b"still"
        assert isinstance(bad, RespError) and "unknown command" in str(bad)
        assert conn.connects == 1
    finally:
        await conn.close()


async def test_scripts_flushed_on_the_server_are_sent_again(
    redis_server: RedisServer, clock: FrozenClock
) -> None:
    storage = open_storage(redis_uri(redis_server), clock)
    raw = aioredis.Redis.from_url(redis_server.uri)
    try:
        assert (await storage.token_bucket("b", 1.0, 3)).tokens == 2.0
        await raw.script_flush()
        assert (await storage.token_bucket("b", 1.0, 3)).tokens == 1.0   # EVALSHA -> EVAL
    finally:
        await raw.aclose()
        await storage.close()


async def test_calls_beyond_max_pending_are_refused_unsent(redis_server: RedisServer) -> None:
    conn = RespConnection(Endpoint("127.0.0.1", redis_server.port), max_pending=2)
    try:
        await conn.call("PING")   # connected
        results = await asyncio.gather(*(conn.call("INCR", "resp:pending") for _ in range(3)),
                                       return_exceptions=True)
        assert isinstance(results[2], Backlog)
        assert await conn.call("GET", "resp:pending") == str(results[1]).encode()
        assert results[:2] == [results[0], results[0] + 1]   # the third never reached Redis
    finally:
        await conn.call("DEL", "resp:pending")
        await conn.close()


async def test_a_stalled_server_fails_every_waiting_call_then_recovers(
    fresh_redis: RedisServer,
) -> None:
    conn = _conn(fresh_redis, timeout=0.2, connect_timeout=0.5)
    try:
        await conn.call("SET", "k", "v")
        os.kill(fresh_redis.pid, signal.SIGSTOP)
        try:
            loop = asyncio.get_running_loop()
            started = loop.time()
            results = await asyncio.gather(*(conn.call("GET", "k") for _ in range(20)),
                                           return_exceptions=True)
            assert all(isinstance(r, Stalled) for r in results)
            assert loop.time() - started < 0.2 * 1.25 + 0.1   # one timer, not one per call
        finally:
            os.kill(fresh_redis.pid, signal.SIGCONT)
        assert await conn.call("GET", "k") == b"v"
        assert conn.connects == 2   # the stalled connection was replaced
    finally:
        await conn.close()


async def test_close_fails_waiting_calls_and_refuses_new_ones(redis_server: RedisServer) -> None:
    conn = _conn(redis_server)
    await conn.call("PING")
    waiting = asyncio.ensure_future(conn.call("BLPOP", "resp:never", "5"))
    await asyncio.sleep(0)   # written, waiting for its reply
    await conn.close()
    with pytest.raises(ConnectionLost):
        await waiting
    with pytest.raises(ConnectionLost):
        await conn.call("PING")


async def test_a_peer_speaking_another_protocol_is_dropped() -> None:
    async def not_redis(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()
        await reader.read(100)   # until the client hangs up
        writer.close()

    server = await asyncio.start_server(not_redis, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    conn = RespConnection(Endpoint("127.0.0.1", port))
    try:
        with pytest.raises(ConnectionLost, match="protocol error"):
            await conn.call("PING")
    finally:
        await conn.close()
        server.close()
        await server.wait_closed()


@pytest.fixture
def password_redis() -> Iterator[RedisServer]:
    server = RedisServer(require_redis_binary(), args=("--requirepass", "s3cret-pw")).start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.mark.parametrize("userinfo", [":s3cret-pw", "default:s3cret-pw"])
async def test_auth_and_database_from_the_uri(
    password_redis: RedisServer, clock: FrozenClock, userinfo: str
) -> None:
    uri = f"redis://{userinfo}@127.0.0.1:{password_redis.port}/3?prefix=p:"
    storage = open_storage(uri, clock)
    raw = aioredis.Redis(host="127.0.0.1", port=password_redis.port, db=3,
                         password="s3cret-pw")
    try:
        await storage.set("kv", b"in db 3", 60)
        assert await raw.exists("p:k:kv") == 1   # SELECT 3 happened on our connection
    finally:
        await raw.aclose()
        await storage.close()


async def test_a_wrong_password_is_a_storage_error_that_does_not_leak_it(
    password_redis: RedisServer, clock: FrozenClock
) -> None:
    # with a database too: Redis answers the SELECT after the failed AUTH, and both are read
    storage = open_storage(f"redis://:wrong-pw@127.0.0.1:{password_redis.port}/3", clock)
    try:
        with pytest.raises(StorageError) as info:
            await storage.get("k")
        assert str(info.value) == "redis: RespError"
        assert "wrong-pw" not in repr(storage)
    finally:
        await storage.close()


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[tuple[RedisServer, Pki]]:
    pki = make_pki(tmp_path / "pki")
    server = RedisServer(require_redis_binary(), tls_port=free_port(), args=(
        "--tls-cert-file", str(pki.server_cert), "--tls-key-file", str(pki.server_key),
        "--tls-ca-cert-file", str(pki.ca))).start()
    try:
        yield server, pki
    finally:
        server.cleanup()


async def test_rediss_verifies_the_server_and_presents_a_client_certificate(
    tls_redis: tuple[RedisServer, Pki], clock: FrozenClock
) -> None:
    server, pki = tls_redis
    base = f"rediss://127.0.0.1:{server.tls_port}/0"
    client = f"ssl_certfile={pki.client_cert}&ssl_keyfile={pki.client_key}"
    storage = open_storage(f"{base}?ssl_ca_certs={pki.ca}&{client}", clock)
    assert isinstance(storage, RedisStorage)
    try:
        assert (await storage.token_bucket("tls", 1.0, 2)).allowed
    finally:
        await storage.close()
    # the system's CAs do not know the test CA: verification fails, nothing is sent
    unverified = open_storage(f"{base}?{client}", clock)
    try:
        with pytest.raises(StorageError, match="SSLCertVerificationError"):
            await unverified.ping()
    finally:
        await unverified.close()

