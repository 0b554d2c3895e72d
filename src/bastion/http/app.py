"""The gateway's application object: an ASGI app, and what Bastion's own protocol calls.

``bastion serve`` answers through ``bastion.http.protocol.GatewayProtocol``, which parses with
httptools and calls ``request``/``routes``/the gateway directly. The ASGI face serves every
other host (any ASGI server, in-process test clients): it reads the request with the same
explicit limits (header count and size, body size), hands one ``Exchange`` to the gateway,
writes the response (streaming if the integration streams), and runs the LOGGING phase after
the client has its answer. ``response_fields`` is the one definition of the response's header
fields for both.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from bastion.gateway.gateway import Gateway
from bastion.pipeline import Headers, Request, Response

__all__ = ["BastionApp", "body_too_large", "close_stream", "headers_too_large", "plain",
           "response_fields"]

log = logging.getLogger("bastion.http")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

HEALTH_PATH = "/_bastion/health"


def plain(status: int, text: str) -> Response:
    """A text answer of the server itself (limits, parse errors), not of the gateway."""
    return Response(status, [("Content-Type", "text/plain; charset=utf-8")], text.encode())


def body_too_large(limit: int) -> Response:
    """API Gateway's answer to a payload over its limit."""
    return plain(413, f"HTTP content length exceeded {limit} bytes.")


def headers_too_large() -> Response:
    return plain(431, "Request Header Fields Too Large")


class _TooLarge(Exception):
    pass


_OTHER, _REQUEST_ID, _LENGTH = 0, 1, 2
# Response header name -> (bytes, kind): responses reuse a handful of names, so each is
# encoded and classified once (bounded: names an integration invents are not cached forever).
_NAMES: dict[str, tuple[bytes, int]] = {}
_NAMES_MAX = 1024
_BAD_NAME = re.compile(rb"[^!#$%&'*+\-.^_`|~0-9A-Za-z]")


def _name(k: str) -> tuple[bytes, int]:
    name = k.encode("latin-1")
    if _BAD_NAME.search(name) or not name:
        raise ValueError(f"response header name {k!r} is not an HTTP token")
    low = name.lower()
    kind = _REQUEST_ID if low == b"x-amzn-requestid" else _LENGTH \
        if low == b"content-length" else _OTHER
    if len(_NAMES) < _NAMES_MAX:
        _NAMES[k] = (name, kind)
    return name, kind


def response_fields(response: Response, request_id: str | None, *,
                    keep_length: bool = False) -> list[tuple[bytes, bytes]]:
    """The response's header fields as bytes, plus ``x-amzn-RequestId`` unless the response
    has one, and the body's ``Content-Length``: a length the integration set is kept only for
    a streamed body, or with ``keep_length`` (a HEAD answer has no body to measure)."""
    headers = []
    has_id = False
    own_length = response.stream is not None or keep_length
    has_length = False
    names = _NAMES
    for k, v in response.headers:
        known = names.get(k)
        if known is None:
            known = _name(k)
        name, kind = known
        if kind == _REQUEST_ID:
            has_id = True
        elif kind == _LENGTH:
            if not own_length:
                continue
            has_length = True
        headers.append((name, v.encode("latin-1")))
    if request_id is not None and not has_id:
        headers.append((b"x-amzn-RequestId", request_id.encode()))
    if response.stream is None and not has_length:
        headers.append((b"Content-Length", str(len(response.body)).encode()))
    return headers


async def close_stream(stream: object) -> None:
    """Close a response body stream now (an async generator over an upstream connection
    releases or closes it), not whenever it is collected."""
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()


class BastionApp:
    """ASGI application wrapping a ``Gateway``."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        limits = gateway.settings.limits
        self.max_body = limits.max_body_bytes
        self.max_headers = limits.max_headers
        self.max_header_bytes = limits.max_header_bytes
        self.trust_xff = gateway.settings.server.trust_forwarded_for
        #: Paths answered by Bastion itself (health, metrics), before any stage.
        self.routes: dict[str, Callable[[], Awaitable[Response]]] = {HEALTH_PATH: self._health}
        self.routes.update(gateway.ctx.resources.get("admin_routes", {}))
        self._background: list[asyncio.Task[None]] = []
        self._server: Any = None
        self._host = ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                for start in self.gateway.ctx.resources.get("background", []):
                    self._background.append(asyncio.ensure_future(start()))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for task in self._background:
                    task.cancel()
                await self.gateway.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _health(self) -> Response:
        body = orjson.dumps({"status": "ok", "routes": len(self.gateway.api.routes)})
        return Response(200, [("Content-Type", "application/json")], body)

    def _headers(self, scope: Scope) -> Headers | None:
        raw: list[tuple[bytes, bytes]] = scope["headers"]
        if len(raw) > self.max_headers:
            return None
        size = 0
        for k, v in raw:
            size += len(k) + len(v) + 4
        if size > self.max_header_bytes:
            return None
        return Headers.from_asgi(raw, scope.get("bastion.header_names"))

    async def _body(self, scope: Scope, receive: Receive, headers: Headers) -> bytes:
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            raise _TooLarge
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > self.max_body:
                    raise _TooLarge
                chunks.append(chunk)
            more = message.get("more_body", False)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_path = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode("latin-1")
        special = self.routes.get(path)
        if special is not None:
            await self._send(send, await special(), None)
            return
        headers = self._headers(scope)
        if headers is None:
            await self._send(send, headers_too_large(), None)
            return
        try:
            body = await self._body(scope, receive, headers)
        except _TooLarge:
            await self._send(send, body_too_large(self.max_body), None)
            return
        request = self.request(
            method=scope["method"], path=path,
            query=scope.get("query_string", b"").decode("latin-1"), headers=headers, body=body,
            client=scope.get("client"), server=scope.get("server"),
            scheme=scope.get("scheme", "http"), http_version=scope.get("http_version", "1.1"))
        gateway = self.gateway
        ex = gateway.exchange(request)
        try:
            response = await gateway.handle(ex)
            ex.response_bytes = await self._send(send, response, ex.request_id)
        finally:
            pending = gateway.finish(ex)
            if pending is not None:
                await pending

    def request(self, *, method: str, path: str, query: str, headers: Headers, body: bytes,
                client: tuple[str, int] | None, server: tuple[str, int | None] | None,
                scheme: str, http_version: str) -> Request:
        """The gateway's ``Request`` for what a server parsed (``path`` without the query,
        not decoded; header limits already checked)."""
        client = client or ("127.0.0.1", 0)
        client_ip = client[0]
        if self.trust_xff:
            xff = headers.get("x-forwarded-for")
            if xff:
                client_ip = xff.split(",", 1)[0].strip() or client_ip
        server = server or ("", None)
        if server != self._server:  # one listening address: format it once, not per request
            self._server = server
            self._host = f"{server[0]}:{server[1]}" if server[1] else str(server[0])
        return Request(method=method, raw_path=path, query_string=query, headers=headers,
                       body=body, client_ip=client_ip, client_port=client[1], scheme=scheme,
                       http_version=http_version, host=self._host)

    @staticmethod
    async def _send(send: Send, response: Response, request_id: str | None) -> int:
        headers = response_fields(response, request_id)
        await send({"type": "http.response.start", "status": response.status,
                    "headers": headers})
        if response.stream is None:
            await send({"type": "http.response.body", "body": response.body})
            return len(response.body)
        sent = len(response.body)
        if response.body:
            await send({"type": "http.response.body", "body": response.body,
                        "more_body": True})
        try:
            async for chunk in response.stream:
                sent += len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except Exception:
            # The status line is gone; the only honest signal left is a broken connection.
            log.warning("response stream failed after %d bytes", sent, exc_info=True)
            raise
        finally:
            await close_stream(response.stream)   # an upstream left mid-body closes now
        await send({"type": "http.response.body", "body": b""})
        return sent
