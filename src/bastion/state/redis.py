"""Redis storage: many gateway processes on many hosts share one set of limits.

Atomicity: every verb that reads and writes is one Lua script (``lua/*.lua``, shipped as package
data), and Redis runs a script with nothing interleaved, so 4 processes hammering one key admit
exactly ``limit`` hits. Scripts are sent by SHA (``EVALSHA``) and reloaded automatically after a
restart wiped the script cache.

Time: by default "now" comes from the caller's injected ``Clock`` and is passed to the script as
an argument, so the same tests drive real Redis with a ``FrozenClock`` and every layer of Bastion
shares one time-line (quota period boundaries, audit stamps, windows). Logical expiry therefore
lives in the data (scores, a deadline field) and the Redis key TTL is only a memory reclaimer set a
``grace`` later. The price is that hosts must keep their clocks in step (NTP): a host ahead by
``d`` seconds shortens the windows it judges by ``d``. Deployments that cannot trust host clocks
add ``?time=server`` to the URI; the scripts then read Redis ``TIME``, the one authority every
process shares, and the guarantee no longer depends on host clocks at all.

Bounded: connect and read timeouts on the socket plus an overall deadline on every call
(``asyncio.timeout``), at most one immediate retry on a dropped connection (which is what makes
reconnection after a Redis restart invisible to callers), and a bounded connection pool. Every
failure, whatever the driver raised, leaves as ``bastion.errors.StorageError``.
Memory on the Redis side is bounded by the TTL on every key; run Redis with ``maxmemory`` and
``maxmemory-policy volatile-lru`` to bound it absolutely.

URI: ``redis://[user:password@]host:port/db`` or ``rediss://`` for TLS. Bastion's own query
parameters (removed before the driver sees the URI): ``prefix`` (key prefix, default
``bastion:``), ``time`` (``client`` or ``server``), ``timeout`` (seconds per call, default 0.5),
``connect_timeout`` (default 0.5), ``max_connections`` (default 16: Redis runs one command at
a time, so more connections per process add connect storms, not throughput), ``window_slots``
(default 600, see ``base.py``; every process sharing a Redis must use the same value).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio import BlockingConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from bastion.clock import Clock
from bastion.errors import StorageError
from bastion.state.base import (
    WINDOW_SLOTS,
    BucketResult,
    WindowResult,
    check_bucket,
    check_cost,
    check_field,
    check_ttl,
    check_window,
    slot_width,
)

__all__ = ["RedisStorage"]

_T = TypeVar("_T")
_GRACE_MS = 1000  # physical TTL = logical TTL + grace: the data, not Redis, decides expiry
# driver query parameters that would loosen the bounds this module guarantees
_BOUNDS = frozenset(
    {"socket_timeout", "socket_connect_timeout", "retry", "retry_on_timeout"}
)
_OWN_PARAMS = frozenset(
    {"prefix", "time", "timeout", "connect_timeout", "max_connections", "window_slots"}
)


def _lua(name: str) -> str:
    return resources.files("bastion.state").joinpath("lua", f"{name}.lua").read_text("utf-8")


def _f(x: float) -> str:
    return repr(float(x))


def _float(raw: Any) -> float:
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return float(text)


class RedisStorage:
    """A ``Storage`` over one Redis server (or a TLS endpoint), safe across processes."""

    def __init__(
        self,
        client: aioredis.Redis,
        clock: Clock,
        *,
        prefix: str = "bastion:",
        server_time: bool = False,
        timeout: float = 0.5,
        window_slots: int = WINDOW_SLOTS,
    ) -> None:
        if window_slots < 1:
            raise ValueError("window_slots must be >= 1")
        self._slots = window_slots
        self._r = client
        self._clock = clock
        self._prefix = prefix
        self._server_time = server_time
        self._timeout = timeout
        self._window = client.register_script(_lua("window"))
        self._fixed = client.register_script(_lua("fixed"))
        self._bucket = client.register_script(_lua("bucket"))
        self._kv = client.register_script(_lua("kv"))
        self._hash = client.register_script(_lua("hash"))
        self._set = client.register_script(_lua("set"))

    @classmethod
    def from_uri(cls, uri: str, clock: Clock) -> RedisStorage:
        """Build from ``redis://`` / ``rediss://`` (see the module docstring for parameters)."""
        parts = urlsplit(uri)
        if parts.scheme not in ("redis", "rediss"):
            raise ValueError(f"not a redis URI scheme: {parts.scheme!r}")
        query = parse_qsl(parts.query, keep_blank_values=True)
        own = {k: v for k, v in query if k in _OWN_PARAMS}
        rest = [(k, v) for k, v in query if k not in _OWN_PARAMS]
        if any(k in _BOUNDS for k, _ in rest):
            raise ValueError("set timeouts with timeout= and connect_timeout= in the state URI")
        time_source = own.get("time", "client")
        if time_source not in ("client", "server"):
            raise ValueError("time must be 'client' or 'server'")
        timeout = _positive(own.get("timeout", "0.5"), "timeout")
        connect_timeout = _positive(own.get("connect_timeout", "0.5"), "connect_timeout")
        max_connections = int(_positive(own.get("max_connections", "16"), "max_connections"))
        driver_uri = urlunsplit(parts._replace(query=urlencode(rest)))
        pool = BlockingConnectionPool.from_url(
            driver_uri,
            socket_timeout=timeout,
            socket_connect_timeout=connect_timeout,
            # one immediate retry on a dropped connection: after a Redis restart the pooled
            # connection is dead, the retry opens a fresh one; a refused connect fails fast
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            max_connections=max_connections,
            # a burst above max_connections waits for a free connection (bounded) instead of
            # failing at once
            timeout=timeout,
            health_check_interval=0,
        )
        client = aioredis.Redis.from_pool(pool)
        return cls(
            client,
            clock,
            prefix=own.get("prefix", "bastion:"),
            server_time=time_source == "server",
            # overall deadline: connect + read, for the call and its one retry
            timeout=2 * (timeout + connect_timeout),
            window_slots=int(_positive(own.get("window_slots", str(WINDOW_SLOTS)), "window_slots")),
        )

    def __repr__(self) -> str:
        # never show the URI: it may carry a password
        return f"RedisStorage(prefix={self._prefix!r}, server_time={self._server_time})"

    # -- plumbing ------------------------------------------------------------------------------

    def _now(self) -> str:
        return "" if self._server_time else _f(self._clock.time())

    def _k(self, family: str, key: str) -> str:
        return f"{self._prefix}{family}:{key}"

    async def _call(self, fn: Callable[[], Awaitable[_T]]) -> _T:
        try:
            async with asyncio.timeout(self._timeout):
                return await fn()
        except Exception as exc:  # every driver failure, whatever its class, is a StorageError
            # the message names the failure class only: driver messages may echo the URI
            raise StorageError(f"redis: {type(exc).__name__}", exc) from exc

    async def _run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        return await self._call(lambda: script(keys=keys, args=args))

    # -- rate strategies ---------------------------------------------------------------------

    async def hit_window(
        self, key: str, limit: int, window_s: float, cost: int = 1
    ) -> WindowResult:
        check_window(limit, window_s)
        check_cost(cost)
        width = slot_width(limit, window_s, self._slots)
        log = self._k("w", "{" + key + "}")  # both keys share the hash tag: one cluster slot
        allowed, count, reset_at, retry = await self._run(
            self._window,
            [log, log + ":n"],
            [self._now(), limit, _f(window_s), cost, _f(width), _GRACE_MS],
        )
        return WindowResult(bool(allowed), int(count), limit, _float(reset_at), _float(retry))

    async def fixed_window(
        self, key: str, limit: int | None, reset_at: float, cost: int = 1
    ) -> WindowResult:
        check_window(limit, 1.0)
        check_cost(cost)
        if not self._server_time and not reset_at > self._clock.time():
            raise ValueError("reset_at must lie in the future; use period_end(period, now)")
        allowed, count, retry = await self._run(
            self._fixed,
            [self._k("f", f"{key}@{reset_at!r}")],
            [self._now(), -1 if limit is None else limit, _f(reset_at), cost, _GRACE_MS],
        )
        shown = limit if limit is not None else 0
        return WindowResult(bool(allowed), int(count), shown, reset_at, _float(retry))

    async def token_bucket(
        self, key: str, rate: float, burst: int, cost: int = 1
    ) -> BucketResult:
        check_bucket(rate, burst)
        check_cost(cost)
        allowed, tokens, retry = await self._run(
            self._bucket,
            [self._k("b", key)],
            [self._now(), _f(rate), burst, cost, _GRACE_MS],
        )
        return BucketResult(bool(allowed), _float(tokens), _float(retry))

    # -- key/value -----------------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        value = await self._run(self._kv, [self._k("k", key)], ["get", self._now(), 0, b"", 0])
        return bytes(value) if value is not None else None

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        check_ttl(ttl)
        await self._run(
            self._kv, [self._k("k", key)], ["set", self._now(), _f(ttl), value, _GRACE_MS]
        )

    async def set_if_absent(self, key: str, ttl: float, value: bytes = b"1") -> bool:
        check_ttl(ttl)
        stored = await self._run(
            self._kv, [self._k("k", key)], ["nx", self._now(), _f(ttl), value, _GRACE_MS]
        )
        return bool(stored)

    async def delete(self, key: str) -> bool:
        found = await self._run(self._kv, [self._k("k", key)], ["del", self._now(), 0, b"", 0])
        return bool(found)

    # -- hashes --------------------------------------------------------------------------------

    async def hget_all(self, key: str) -> dict[str, bytes]:
        flat = await self._run(self._hash, [self._k("h", key)], ["all", self._now(), 0, 0])
        return {bytes(flat[i]).decode(): bytes(flat[i + 1]) for i in range(0, len(flat), 2)}

    async def hset(self, key: str, fields: dict[str, bytes], ttl: float) -> None:
        check_ttl(ttl)
        args: list[Any] = ["set", self._now(), _f(ttl), _GRACE_MS]
        for field, value in fields.items():
            check_field(field)
            args += [field, value]
        await self._run(self._hash, [self._k("h", key)], args)

    async def hincr(self, key: str, field: str, amount: int, ttl: float) -> int:
        check_ttl(ttl)
        check_field(field)
        value = await self._run(
            self._hash,
            [self._k("h", key)],
            ["incr", self._now(), _f(ttl), _GRACE_MS, field, int(amount)],
        )
        return int(value)

    async def hdel(self, key: str, field: str) -> bool:
        removed = await self._run(
            self._hash, [self._k("h", key)], ["del", self._now(), 0, 0, field]
        )
        return bool(removed)

    # -- sets with expiring members ------------------------------------------------------------

    async def sadd(self, key: str, member: str, ttl: float) -> None:
        check_ttl(ttl)
        await self._run(
            self._set, [self._k("s", key)], ["add", self._now(), member, _f(ttl), _GRACE_MS]
        )

    async def sismember(self, key: str, member: str) -> bool:
        found = await self._run(self._set, [self._k("s", key)], ["has", self._now(), member])
        return bool(found)

    async def smembers(self, key: str) -> dict[str, float]:
        flat = await self._run(self._set, [self._k("s", key)], ["all", self._now()])
        return {bytes(flat[i]).decode(): _float(flat[i + 1]) for i in range(0, len(flat), 2)}

    async def srem(self, key: str, member: str) -> bool:
        removed = await self._run(self._set, [self._k("s", key)], ["rem", self._now(), member])
        return bool(removed)

    async def ping(self) -> None:
        """Round-trip to the server (health checks); raises ``StorageError`` when down."""
        await self._call(self._r.ping)

    async def close(self) -> None:
        try:
            await self._r.aclose()
        except Exception as exc:
            raise StorageError(f"redis: {type(exc).__name__}", exc) from exc


def _positive(raw: str, name: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {raw!r}")
    return value
