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

Transport: one pipelined connection per process (``bastion.state.resp``: every concurrent call
shares the socket, replies come back in order; hiredis encodes and parses). A script is sent by
SHA (``EVALSHA``) and, after a restart wiped the server's script cache, once in full (``EVAL``).

Bounded: ``connect_timeout`` for connecting (TCP, TLS, AUTH, SELECT), ``timeout`` for a reply
(the connection is closed when its oldest call is overdue, so a hung server fails every waiting
call within ~1.25 x ``timeout``), ``max_pending`` calls waiting at once, and at most one
immediate retry when the connection dropped under a call (which is what makes reconnection
after a Redis restart invisible to callers). A call therefore ends within
``2 x (connect_timeout + 1.25 x timeout)``. Every failure leaves as
``bastion.errors.StorageError`` naming only the failure's class. Memory on the Redis side is
bounded by the TTL on every key; run Redis with ``maxmemory`` and ``maxmemory-policy
volatile-lru`` to bound it absolutely.

URI: ``redis://[user:password@]host:port/db`` or ``rediss://`` for TLS. Query parameters:
``prefix`` (key prefix, default ``bastion:``), ``time`` (``client`` or ``server``), ``timeout``
(seconds, default 0.5), ``connect_timeout`` (default 0.5), ``max_pending`` (default 10000),
``window_slots`` (default 600, see ``base.py``; every process sharing a Redis must use the same
value); for ``rediss://``: ``ssl_ca_certs`` (a CA bundle path), ``ssl_certfile`` and
``ssl_keyfile`` (a client certificate), ``ssl_cert_reqs=none`` (no verification: tests only).
Anything else is refused, so a typo never loosens a bound silently.
"""

from __future__ import annotations

import hashlib
import math
import ssl
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

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
from bastion.state.resp import ConnectionLost, Endpoint, RespConnection, RespError

__all__ = ["RedisStorage"]

_GRACE_MS = 1000  # physical TTL = logical TTL + grace: the data, not Redis, decides expiry
# driver query parameters that would loosen the bounds this module guarantees
_BOUNDS = frozenset(
    {"socket_timeout", "socket_connect_timeout", "retry", "retry_on_timeout"}
)
_OWN_PARAMS = frozenset(
    {"prefix", "time", "timeout", "connect_timeout", "max_pending", "window_slots",
     "ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs"}
)


@dataclass(frozen=True, slots=True)
class _Script:
    """A Lua script and its SHA-1, the name ``EVALSHA`` calls it by."""

    body: bytes
    sha: str

    @classmethod
    def load(cls, name: str) -> _Script:
        body = resources.files("bastion.state").joinpath("lua", f"{name}.lua").read_bytes()
        return cls(body, hashlib.sha1(body, usedforsecurity=False).hexdigest())


def _f(x: float) -> str:
    return repr(float(x))


def _float(raw: Any) -> float:
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return float(text)


class RedisStorage:
    """A ``Storage`` over one Redis server (or a TLS endpoint), safe across processes."""

    def __init__(
        self,
        connection: RespConnection,
        clock: Clock,
        *,
        prefix: str = "bastion:",
        server_time: bool = False,
        window_slots: int = WINDOW_SLOTS,
    ) -> None:
        if window_slots < 1:
            raise ValueError("window_slots must be >= 1")
        self._slots = window_slots
        self._conn = connection
        self._clock = clock
        self._prefix = prefix
        self._server_time = server_time
        self._window = _Script.load("window")
        self._fixed = _Script.load("fixed")
        self._bucket = _Script.load("bucket")
        self._kv = _Script.load("kv")
        self._hash = _Script.load("hash")
        self._set = _Script.load("set")

    @classmethod
    def from_uri(cls, uri: str, clock: Clock) -> RedisStorage:
        """Build from ``redis://`` / ``rediss://`` (see the module docstring for parameters).
        Does not connect: the first call does."""
        parts = urlsplit(uri)
        if parts.scheme not in ("redis", "rediss"):
            raise ValueError(f"not a redis URI scheme: {parts.scheme!r}")
        query = parse_qsl(parts.query, keep_blank_values=True)
        own = dict(query)
        for name, _ in query:
            if name in _BOUNDS:
                raise ValueError("set timeouts with timeout= and connect_timeout= in the state URI")
            if name == "max_connections":
                raise ValueError("max_connections is gone: one pipelined connection serves "
                                 "every call (bound the waiting calls with max_pending=)")
            if name not in _OWN_PARAMS:
                raise ValueError(f"unknown state URI parameter {name!r}")
        time_source = own.get("time", "client")
        if time_source not in ("client", "server"):
            raise ValueError("time must be 'client' or 'server'")
        if parts.scheme == "redis" and any(k.startswith("ssl_") for k in own):
            raise ValueError("ssl_* parameters need a rediss:// URI")
        path = parts.path.lstrip("/")
        if path and not path.isdigit():
            raise ValueError("the database in a redis URI is a number: redis://host:port/0")
        try:
            port = parts.port or 6379
        except ValueError as exc:   # urllib's message names the port, never the password
            raise ValueError("bad port in the redis URI") from exc
        endpoint = Endpoint(
            host=parts.hostname or "127.0.0.1", port=port, db=int(path or 0),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            tls=_tls(own) if parts.scheme == "rediss" else None)
        connection = RespConnection(
            endpoint,
            connect_timeout=_positive(own.get("connect_timeout", "0.5"), "connect_timeout"),
            timeout=_positive(own.get("timeout", "0.5"), "timeout"),
            max_pending=int(_positive(own.get("max_pending", "10000"), "max_pending")))
        return cls(
            connection,
            clock,
            prefix=own.get("prefix", "bastion:"),
            server_time=time_source == "server",
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

    async def _eval(self, script: _Script, keys: list[str], args: list[Any]) -> Any:
        call = self._conn.call
        try:
            return await call("EVALSHA", script.sha, len(keys), *keys, *args)
        except RespError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
            # a restarted server forgot its scripts: EVAL sends the body and caches it again
            return await call("EVAL", script.body, len(keys), *keys, *args)

    async def _run(self, script: _Script, keys: list[str], args: list[Any]) -> Any:
        # (``ping`` repeats this shape: a shared wrapper costs a coroutine a call, ~0.8 us)
        try:
            try:
                return await self._eval(script, keys, args)
            except ConnectionLost:
                # one immediate retry: the connection died under the call (a Redis restart);
                # the retry reconnects. A stalled server (``Stalled``) is not retried.
                return await self._eval(script, keys, args)
        except Exception as exc:  # every failure, whatever its class, is a StorageError
            # the message names the failure class only: server messages may echo arguments
            raise StorageError(f"redis: {type(exc).__name__}", exc) from exc

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
        try:
            try:
                await self._conn.call("PING")
            except ConnectionLost:
                await self._conn.call("PING")
        except Exception as exc:
            raise StorageError(f"redis: {type(exc).__name__}", exc) from exc

    async def close(self) -> None:
        await self._conn.close()


def _tls(params: dict[str, str]) -> ssl.SSLContext:
    """The client TLS context of a ``rediss://`` URI: verified against the system's CAs (or
    ``ssl_ca_certs``) and the host name, unless ``ssl_cert_reqs=none``."""
    try:
        ctx = ssl.create_default_context(cafile=params.get("ssl_ca_certs") or None)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"ssl_ca_certs: cannot load {params.get('ssl_ca_certs')}: "
                         f"{type(exc).__name__}") from None
    if params.get("ssl_certfile"):
        try:
            ctx.load_cert_chain(params["ssl_certfile"], params.get("ssl_keyfile") or None)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"ssl_certfile/ssl_keyfile: cannot load {params['ssl_certfile']}: "
                             f"{type(exc).__name__}") from None
    reqs = params.get("ssl_cert_reqs", "required")
    if reqs not in ("required", "none"):
        raise ValueError("ssl_cert_reqs must be 'required' or 'none'")
    if reqs == "none":
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _positive(raw: str, name: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {raw!r}")
    return value
