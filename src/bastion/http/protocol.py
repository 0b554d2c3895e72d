"""HTTP/1.1 for the gateway with no ASGI in between: httptools parses, the gateway answers.

uvicorn still runs the server (sockets, TLS, workers, signals, lifespan, graceful shutdown);
this is the protocol it instantiates per connection (``uvicorn.run(..., http=GatewayProtocol)``).
uvicorn's own protocol turned each request into an ASGI scope dict, a task exchanging receive
and send message dicts with the app, and checked every header twice; that was ~25 us of an
~80 us proxied GET on the reference machine. Here the parser's callbacks build the
``Request`` directly and the response leaves in one write.

Limits hold while parsing, before anything is buffered past them: the request target and the
header fields (``max_header_bytes``: 414 and 431), the header count (``max_headers``: 431), and
the body (``max_body_bytes``: 413 as soon as a declared length or the bytes received pass it;
the connection closes, so the rest of the body is never read). A request httptools cannot parse
is a 400 and closes the connection; so do request smuggling shapes (Content-Length with
Transfer-Encoding), which llhttp refuses. Keep-alive follows the request (HTTP/1.0 without
``keep-alive``, ``Connection: close``), pipelined requests are answered in order,
``Expect: 100-continue`` is answered when the body may come, idle connections close after
uvicorn's ``timeout_keep_alive``; a request still arriving after ``server.client_timeout_s``
is answered 408, and a client that stops reading an answer for that long is dropped (slow
senders and slow readers cannot hold connections). Response header
values with control characters are refused (response splitting): the client gets a 500.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import deque
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, cast

import httptools
from uvicorn.config import Config
from uvicorn.protocols.utils import get_local_addr, get_remote_addr
from uvicorn.server import ServerState

from bastion.http.app import (
    BastionApp,
    body_too_large,
    close_stream,
    headers_too_large,
    plain,
    response_fields,
)
from bastion.pipeline import Headers, Response

__all__ = ["GatewayProtocol"]

log = logging.getLogger("bastion.http")

_STATUS = {s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n".encode() for s in HTTPStatus}
# control characters other than tab: a header value holding one could split the response
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_FRAMING = frozenset({b"content-length", b"transfer-encoding"})
_NO_BODY = frozenset({204, 304})
# Pipelined requests waiting behind the one being answered before the connection stops reading.
MAX_PIPELINED = 16


class _Refuse(Exception):
    """Raised from a parser callback: answer ``response`` and close the connection."""

    def __init__(self, response: Response) -> None:
        self.response = response


class _Parsed:
    """One complete request as the parser delivered it."""

    __slots__ = ("body", "headers", "keep_alive", "method", "path", "query", "version")

    def __init__(self, method: str, path: str, query: str, headers: Headers, body: bytes,
                 version: str, keep_alive: bool) -> None:
        self.method, self.path, self.query, self.headers = method, path, query, headers
        self.body, self.version, self.keep_alive = body, version, keep_alive


class GatewayProtocol(asyncio.Protocol):
    """One client connection: parse, answer in order, keep alive or close."""

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        if not config.loaded:
            config.load()
        self.app = _bastion_app(config.loaded_app)
        self.gateway = self.app.gateway
        limits = self.gateway.settings.limits
        self.max_body = limits.max_body_bytes
        self.max_headers = limits.max_headers
        self.max_header_bytes = limits.max_header_bytes
        self.loop = _loop or asyncio.get_event_loop()
        self.state = server_state
        self.idle_timeout = float(config.timeout_keep_alive)
        self.client_timeout = self.gateway.settings.server.client_timeout_s
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.client: tuple[str, int] | None = None
        self.server: tuple[str, int | None] | None = None
        self.scheme = "http"
        self.queue: deque[_Parsed | Response] = deque()
        self.busy = False        # a request is being answered
        self.closing = False     # shutting down: close after the current answer
        self.refused = False     # reading stopped: answer what is in hand, then close
        self.lost = False
        self.reading = True
        self.watchdog: asyncio.TimerHandle | None = None
        self._active = 0.0                    # when the connection was last answered
        self._begun: float | None = None      # when the request being read began
        self._stalled: float | None = None    # since when the transport refuses our writes
        self.writable: asyncio.Event | None = None   # set while the transport takes writes
        # the request being parsed
        self._url = b""
        self._raw: list[tuple[bytes, bytes]] = []
        self._names: list[bytes] = []
        self._body: list[bytes] = []
        self._size = 0
        self._head_bytes = 0
        self._continue = False

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.state.connections.add(self)  # type: ignore[arg-type]
        self.transport = transport
        self.client = get_remote_addr(transport)
        self.server = get_local_addr(transport)
        self.scheme = "https" if transport.get_extra_info("sslcontext") else "http"
        self._active = self.loop.time()
        self.watchdog = self.loop.call_later(self.idle_timeout, self._watch)

    def connection_lost(self, exc: Exception | None) -> None:
        self.state.connections.discard(self)
        self.lost = True
        self.queue.clear()
        if self.watchdog is not None:
            self.watchdog.cancel()
            self.watchdog = None
        if self.writable is not None:
            self.writable.set()   # a waiting stream sees ``lost`` and stops

    def eof_received(self) -> bool:
        """The client half-closed: answer what it sent, then close (True keeps the transport
        open for those answers)."""
        self.refused = True
        return self.busy or bool(self.queue)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # Upgrade or CONNECT: the request was answered as plain HTTP; what follows it is
            # not HTTP, so the connection closes after the answers in hand
            self._refuse(None)
        except httptools.HttpParserCallbackError as exc:
            refused = exc.__context__
            if isinstance(refused, _Refuse):
                self._refuse(refused.response)
            else:
                log.error("request callback failed", exc_info=refused)
                self._refuse(plain(400, "Invalid HTTP request received."))
        except httptools.HttpParserError:
            self._refuse(plain(400, "Invalid HTTP request received."))

    def pause_writing(self) -> None:
        if self.writable is None:
            self.writable = asyncio.Event()
        self.writable.clear()
        self._stalled = self.loop.time()

    def resume_writing(self) -> None:
        self._stalled = None
        if self.writable is not None:
            self.writable.set()

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown: close when idle, else after the current answer."""
        self.closing = True
        if not self.busy and self.transport is not None:
            self.transport.close()

    # -- parser callbacks -----------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._begun = self.loop.time()
        self._url = b""
        self._raw = []
        self._names = []
        self._body = []
        self._size = 0
        self._head_bytes = 0
        self._continue = False

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > self.max_header_bytes:
            raise _Refuse(plain(414, "URI Too Long"))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value) + 4
        if len(self._raw) >= self.max_headers or self._head_bytes > self.max_header_bytes:
            raise _Refuse(headers_too_large())
        low = name.lower()
        if low == b"content-length":
            if value.isdigit() and int(value) > self.max_body:
                raise _Refuse(body_too_large(self.max_body))
        elif low == b"expect" and value.lower() == b"100-continue":
            self._continue = True
        self._names.append(name)
        self._raw.append((low, value))

    def on_headers_complete(self) -> None:
        if self._continue and not self.busy and self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self.max_body:
            raise _Refuse(body_too_large(self.max_body))
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._begun = None
        parser = self.parser
        try:
            url = httptools.parse_url(self._url)
        except httptools.HttpParserInvalidURLError:
            raise _Refuse(plain(400, "Invalid HTTP request received.")) from None
        body = self._body
        parsed = _Parsed(
            parser.get_method().decode("ascii"), url.path.decode("latin-1"),
            url.query.decode("latin-1") if url.query else "",
            Headers.from_asgi(self._raw, self._names),
            body[0] if len(body) == 1 else b"".join(body), parser.get_http_version(),
            parser.should_keep_alive())
        self._enqueue(parsed)

    # -- answering ------------------------------------------------------------------------

    def _enqueue(self, item: _Parsed | Response) -> None:
        if not self.busy:
            self._start(item)
            return
        self.queue.append(item)
        if len(self.queue) >= MAX_PIPELINED and self.reading and self.transport is not None:
            self.transport.pause_reading()
            self.reading = False

    def _start(self, item: _Parsed | Response) -> None:
        self.busy = True
        task = self.loop.create_task(self._answer(item) if isinstance(item, _Parsed)
                                     else self._answer_refusal(item))
        tasks = self.state.tasks
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def _refuse(self, response: Response | None) -> None:
        """Stop reading; answer ``response`` (if any) after the requests in hand; close."""
        self.refused = True
        if self.reading and self.transport is not None:
            self.transport.pause_reading()
            self.reading = False
        if response is not None:
            self._enqueue(response)
        elif not self.busy and self.transport is not None:
            self.transport.close()

    async def _answer_refusal(self, response: Response) -> None:
        await self._write(response, None, head=False, keep_alive=False, version="1.1")
        self._done(False)

    async def _answer(self, p: _Parsed) -> None:
        app = self.app
        gateway = self.gateway
        keep_alive = p.keep_alive and not self.closing
        ex = None
        try:
            special = app.routes.get(p.path)
            if special is not None:
                response = await special()
            else:
                ex = gateway.exchange(app.request(
                    method=p.method, path=p.path, query=p.query, headers=p.headers,
                    body=p.body, client=self.client, server=self.server, scheme=self.scheme,
                    http_version=p.version))
                response = await gateway.handle(ex)
        except Exception:   # the chain answers its own failures; this is a bug's last stop
            log.exception("answering %s %s failed", p.method, p.path)
            response, keep_alive = plain(500, "Internal Server Error"), False
        try:
            keep_alive = await self._write(response, ex.request_id if ex else None,
                                           head=p.method == "HEAD", keep_alive=keep_alive,
                                           version=p.version, ex=ex)
        except Exception:
            log.exception("writing the answer to %s %s failed", p.method, p.path)
            keep_alive = False
        finally:
            self._done(keep_alive)
            if ex is not None:
                pending = gateway.finish(ex)
                if pending is not None:
                    await pending

    def _done(self, keep_alive: bool) -> None:
        """The answer is written: the next pipelined request, or wait for one, or close."""
        self.state.total_requests += 1
        transport = self.transport
        if transport is None or self.lost:
            return
        if not keep_alive or (self.refused and not self.queue):
            self.busy = False
            transport.close()
            return
        if self.queue:
            self._start(self.queue.popleft())
            if not self.reading and len(self.queue) < MAX_PIPELINED // 2 and not self.refused:
                transport.resume_reading()
                self.reading = True
            return
        self.busy = False
        self._active = self.loop.time()

    async def _write(self, response: Response, request_id: str | None, *, head: bool,
                     keep_alive: bool, version: str, ex: Any = None) -> bool:
        """Write ``response``; returns whether the connection may stay open."""
        transport = self.transport
        if transport is None or self.lost:
            return False
        status = response.status
        try:
            fields = response_fields(response, request_id, keep_length=head)
            out = [_STATUS.get(status) or _status_line(status)]
            for name, value in self.state.default_headers:
                out += (name, b": ", value, b"\r\n")
            for name, value in fields:
                if _BAD_VALUE.search(value):   # names are checked once, by response_fields
                    raise ValueError(f"response header {name!r} has a control character")
                if name.lower() == b"connection" and b"close" in value.lower():
                    keep_alive = False
                out += (name, b": ", value, b"\r\n")
        except ValueError:
            log.warning("refused an invalid response header (status %d)", status,
                        exc_info=True)
            if response.stream is not None:
                await close_stream(response.stream)
            return await self._write(plain(500, "Internal Server Error"), request_id,
                                     head=head, keep_alive=False, version=version)
        stream = response.stream
        no_body = head or status in _NO_BODY or status < 200
        chunked = stream is not None and not no_body and version == "1.1" and not any(
            name.lower() == b"content-length" for name, _ in fields)
        if stream is not None and not no_body and not chunked and version != "1.1":
            keep_alive = False   # HTTP/1.0 without a length: the body ends when we close
        if not keep_alive:
            out.append(b"connection: close\r\n")
        if chunked:
            out.append(b"transfer-encoding: chunked\r\n")
        out.append(b"\r\n")
        sent = 0
        if not no_body and response.body:
            sent = len(response.body)
            out += ((b"%x\r\n" % sent, response.body, b"\r\n") if chunked else (response.body,))
        transport.write(b"".join(out))
        if stream is not None and no_body:
            await close_stream(stream)   # none of it is sent (HEAD, 204, 304): free its upstream
        elif stream is not None:
            try:
                sent += await self._stream(stream, chunked)
            except Exception:
                # The status line is gone; the only honest signal left is a broken connection.
                log.warning("response stream failed after %d bytes", sent, exc_info=True)
                if ex is not None:
                    ex.response_bytes = sent
                return False
        if ex is not None:
            ex.response_bytes = sent
        return keep_alive and not self.lost

    async def _stream(self, stream: Any, chunked: bool) -> int:
        sent = 0
        transport = self.transport
        assert transport is not None
        try:
            async for chunk in stream:
                if self.writable is not None and not self.writable.is_set():
                    await self.writable.wait()
                if self.lost:
                    raise ConnectionError("client went away")
                if chunk:
                    sent += len(chunk)
                    transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked
                                    else chunk)
        finally:
            await close_stream(stream)   # an upstream left mid-body closes now, not at collection
        if chunked:
            transport.write(b"0\r\n\r\n")
        return sent

    def _watch(self) -> None:
        """Every ``idle_timeout`` seconds (no timer per request): close a connection idle
        that long, answer 408 to a request still arriving after ``client_timeout``, drop a
        client that has not read for that long (either would hold a connection forever)."""
        self.watchdog = None
        transport = self.transport
        if self.lost or transport is None:
            return
        now = self.loop.time()
        delay = self.idle_timeout
        if self._stalled is not None and now - self._stalled > self.client_timeout:
            transport.abort()   # it reads nothing: what is buffered for it goes too
            return
        if self._begun is not None:
            if now - self._begun > self.client_timeout and not self.refused:
                self._begun = None
                self._refuse(plain(408, "Request Timeout"))
                return
        elif not self.busy and not self.queue:
            idle = now - self._active
            if idle >= self.idle_timeout:
                transport.close()
                return
            delay = self.idle_timeout - idle
        self.watchdog = self.loop.call_later(delay, self._watch)


def _status_line(status: int) -> bytes:
    return f"HTTP/1.1 {status} \r\n".encode()


def _bastion_app(app: Any) -> BastionApp:
    """The ``BastionApp`` uvicorn loaded, through any middleware it wrapped around it."""
    seen: Callable[..., Any] | None = app
    for _ in range(8):
        if isinstance(seen, BastionApp):
            return seen
        seen = getattr(seen, "app", None)
    raise TypeError("GatewayProtocol serves a BastionApp only")
