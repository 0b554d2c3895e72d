"""One pipelined RESP connection per process: every Redis call of the gateway on one socket.

Redis answers the commands of one connection in the order it received them, so a single socket
serves any number of concurrent callers: a call appends a future to a FIFO and its command to
the iteration's output; the commands of one event-loop iteration go out in one write, and each
reply completes the oldest waiting future. Commands and replies are encoded and parsed by
``hiredis`` (the Redis project's C parser); this module owns only the connection.

Why not a pool of connections (redis-py's asyncio client, which Bastion used before): with 32
concurrent callers on this 2-core machine an ``EVALSHA`` cost 46 us of CPU through redis-py
bare and ~110 us as Bastion had bounded it (blocking pool, a deadline per call), against
7.4-7.9 us here (9.5 us with one write per command); and a cold burst of more callers than
pooled connections waited over 0.5 s for one, i.e. failed (``tests/state/test_resp.py``).

Bounds, all explicit:

* ``connect_timeout`` for TCP (+ TLS) connect and the AUTH/SELECT handshake;
* ``timeout``: a reply overdue by more than that means the server is stalled. One timer per
  connection (not one per call) looks at the oldest waiting call; when it is overdue, the
  connection is closed and every waiting call fails with ``Stalled``. The next call reconnects.
* ``max_pending`` calls waiting at once; beyond it a call fails at once with ``Backlog``.

A closed or dropped connection fails its waiting calls with ``ConnectionLost`` (never silently
retried here: the caller decides, knowing a script may have run before the socket died).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import hiredis

__all__ = ["Backlog", "ConnectionLost", "Endpoint", "RespConnection", "RespError", "Stalled"]

Arg = str | bytes | int | float


class RespError(Exception):
    """The server answered with an error reply (its text, e.g. ``NOSCRIPT ...``)."""


class ConnectionLost(ConnectionError):
    """The connection closed or dropped while the call waited for its reply."""


class Stalled(TimeoutError):
    """The server did not answer within ``timeout``; the connection was closed."""


class Backlog(Exception):
    """``max_pending`` calls are already waiting: this one was refused without being sent."""


@dataclass(frozen=True)
class Endpoint:
    """Where and how to connect. ``password`` never appears in ``repr``."""

    host: str
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: ssl.SSLContext | None = None


class _Protocol(asyncio.Protocol):
    """The socket's reader: each complete reply completes the oldest waiting future."""

    def __init__(self, owner: RespConnection) -> None:
        self.owner = owner
        self.reader = hiredis.Reader()
        # (future, loop time the command was written)
        self.waiting: deque[tuple[asyncio.Future[Any], float]] = deque()
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.failure: BaseException | None = None
        self.out: list[bytes] = []   # commands of this loop iteration, written together

    def flush(self) -> None:
        out = self.out
        self.out = []
        if self.transport is not None and not self.closed:
            self.transport.write(b"".join(out) if len(out) > 1 else out[0])

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        waiting = self.waiting
        reader.feed(data)
        while True:
            try:
                reply = reader.gets()
            except hiredis.ProtocolError as exc:   # not Redis, or a corrupt stream: give up
                self.abort(ConnectionLost(f"protocol error: {exc}"))
                return
            if reply is False:
                return
            if not waiting:   # a reply nobody asked for: the stream is out of step
                self.abort(ConnectionLost("unexpected reply"))
                return
            fut = waiting.popleft()[0]
            if not fut.done():   # a caller that gave up (cancelled) still has its reply read
                if type(reply) is hiredis.ReplyError:
                    fut.set_exception(RespError(str(reply)))
                else:
                    fut.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        failure = self.failure or ConnectionLost(
            f"connection lost: {type(exc).__name__}" if exc else "connection closed")
        while self.waiting:
            fut = self.waiting.popleft()[0]
            if not fut.done():   # one exception object per caller: each gets its own traceback
                fut.set_exception(type(failure)(*failure.args))
        self.owner._lost(self)

    def abort(self, failure: BaseException) -> None:
        """Close now; every waiting call fails with ``failure``."""
        if self.failure is None:
            self.failure = failure
        self.closed = True
        if self.transport is not None:
            self.transport.abort()   # connection_lost follows and fails the waiting calls


class RespConnection:
    """A lazily opened, self-healing, pipelined connection to one Redis server."""

    def __init__(self, endpoint: Endpoint, *, connect_timeout: float = 0.5,
                 timeout: float = 0.5, max_pending: int = 10_000) -> None:
        if connect_timeout <= 0 or timeout <= 0 or max_pending < 1:
            raise ValueError("timeouts must be positive and max_pending at least 1")
        self.endpoint = endpoint
        self._connect_timeout = connect_timeout
        self._timeout = timeout
        self._max_pending = max_pending
        self._proto: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self.connects = 0   # how many connections were opened (tests, health)

    def __repr__(self) -> str:
        e = self.endpoint
        return f"RespConnection({e.host}:{e.port}/{e.db}, tls={e.tls is not None})"

    async def call(self, *args: Arg) -> Any:
        """Send one command and return its reply (bytes, int, list, None...).

        Raises ``RespError`` for an error reply, ``ConnectionLost``, ``Stalled``, ``Backlog``,
        or ``OSError``/``TimeoutError`` when connecting fails.
        """
        proto = self._proto
        if proto is None or proto.closed:
            proto = await self._connect()
        return await self._enqueue(proto, args)

    def _enqueue(self, proto: _Protocol, args: tuple[Arg, ...]) -> asyncio.Future[Any]:
        waiting = proto.waiting
        if len(waiting) >= self._max_pending:
            raise Backlog(f"{len(waiting)} Redis calls already waiting")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        waiting.append((fut, loop.time()))
        out = proto.out
        if not out:
            loop.call_soon(proto.flush)
        out.append(hiredis.pack_command(args))  # type: ignore[arg-type]  # stub: 1-tuple
        if self._timer is None:
            self._timer = loop.call_later(self._timeout / 4, self._watch)
        return fut

    def _watch(self) -> None:
        """The stall timer: fails the connection when its oldest call is overdue."""
        self._timer = None
        proto = self._proto
        if proto is None or proto.closed or not proto.waiting:
            return
        loop = asyncio.get_running_loop()
        if loop.time() - proto.waiting[0][1] > self._timeout:
            proto.abort(Stalled(f"no reply from Redis within {self._timeout} s"))
            return
        self._timer = loop.call_later(self._timeout / 4, self._watch)

    async def _connect(self) -> _Protocol:
        if self._closed:
            raise ConnectionLost("connection closed by its owner")
        pending = self._connecting
        if pending is None:   # the first caller connects; the others wait for the same outcome
            pending = self._connecting = asyncio.ensure_future(self._open())
            pending.add_done_callback(self._connected)
        return await asyncio.shield(pending)

    def _connected(self, fut: asyncio.Future[_Protocol]) -> None:
        self._connecting = None
        if not fut.cancelled() and fut.exception() is None:
            self._proto = fut.result()

    async def _open(self) -> _Protocol:
        e = self.endpoint
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self._connect_timeout):
            _, proto = await loop.create_connection(
                lambda: _Protocol(self), e.host, e.port, ssl=e.tls,
                server_hostname=e.host if e.tls is not None else None)
            self.connects += 1
            try:
                hello: list[tuple[Arg, ...]] = []
                if e.password is not None:
                    hello.append(("AUTH", e.username, e.password) if e.username
                                 else ("AUTH", e.password))
                if e.db:
                    hello.append(("SELECT", e.db))
                # every reply is read (Redis answers SELECT with NOAUTH after a failed AUTH)
                replies = await asyncio.gather(*(self._enqueue(proto, args) for args in hello),
                                               return_exceptions=True)
                for reply in replies:
                    if isinstance(reply, BaseException):
                        raise reply
            except BaseException:
                proto.abort(ConnectionLost("handshake failed"))
                raise
        return proto

    def _lost(self, proto: _Protocol) -> None:
        if self._proto is proto:
            self._proto = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    async def close(self) -> None:
        """Close the socket; waiting calls fail with ``ConnectionLost``. Idempotent."""
        self._closed = True
        proto = self._proto
        if proto is not None and proto.transport is not None:
            proto.failure = proto.failure or ConnectionLost("connection closed by its owner")
            proto.transport.close()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
