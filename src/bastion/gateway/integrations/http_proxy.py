"""``http_proxy`` integrations: a reverse proxy to any HTTP origin.

The request is forwarded with hop-by-hop headers removed, ``X-Forwarded-For/Proto/Host`` set,
the ``Host`` kept or rewritten to the origin (as a reverse-proxy WAF does), and the URI's
``{name}`` placeholders filled from path parameters. The response streams back. A refused or
reset origin is 502; a connect or read timeout is 504.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from urllib.parse import urlsplit

from bastion.errors import ConfigError, UpstreamError, UpstreamTimeout
from bastion.gateway.integrations.mapping import Getter
from bastion.http.upstream import Origin, UpstreamPool
from bastion.pipeline import Exchange, Interruption, Response

__all__ = ["HOP_BY_HOP", "HttpProxy", "forward_headers"]

HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                        "te", "trailer", "trailers", "transfer-encoding", "upgrade",
                        "proxy-connection"})
_REMAPPED = {"authorization": "Authorization", "connection": "Connection",
             "content-length": "Content-Length", "date": "Date", "server": "Server",
             "www-authenticate": "WWW-Authenticate"}
_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_.+-]+)\}")

BAD_GATEWAY = Interruption("INTEGRATION_FAILURE", message="Internal server error", status=502,
                           error_type="InternalServerErrorException", source="integration")
TIMEOUT = Interruption("INTEGRATION_TIMEOUT", message="Endpoint request timed out", status=504,
                       error_type="InternalServerErrorException", source="integration")


def _connection_tokens(value: str | None) -> set[str]:
    return {t.strip().lower() for t in value.split(",")} if value else set()


_FORWARD_DROP = frozenset(n.encode() for n in HOP_BY_HOP | {
    "host", "content-length", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"})


def forward_headers(ex: Exchange, *, host: str | None) -> list[tuple[bytes, bytes]]:
    """The client's headers as the origin should see them (bytes in, bytes out).

    One pass over the raw pairs: the few values the proxy needs (Host, X-Forwarded-For,
    Connection) are picked up on the way instead of being looked up (and decoded) apart.
    """
    req = ex.request
    drop = _FORWARD_DROP
    out: list[tuple[bytes, bytes]] = []
    connection = client_host = prior = None
    for low, name, value in req.headers.raw_pairs():
        if low not in drop:
            out.append((name, value))
        elif low == b"host":
            if client_host is None:
                client_host = value
        elif low == b"x-forwarded-for":
            if prior is None:
                prior = value
        elif low == b"connection" and connection is None:
            connection = value
    if connection:  # the client named more hop-by-hop headers: drop those too
        tokens = {t.encode("latin-1") for t in _connection_tokens(connection.decode("latin-1"))}
        out = [(name, value) for low, name, value in req.headers.raw_pairs()
               if low not in drop and low not in tokens]
    host_value = client_host.decode("latin-1") if client_host else req.host
    out.append((b"host", (host or host_value).encode("latin-1")))
    ip = req.client_ip
    xff = f"{prior.decode('latin-1')}, {ip}" if prior else ip
    out.append((b"x-forwarded-for", xff.encode("latin-1")))
    out.append((b"x-forwarded-proto", req.scheme.encode("latin-1")))
    if host_value:
        out.append((b"x-forwarded-host", host_value.encode("latin-1")))
    return out


class HttpProxy:
    """Forwards to ``uri`` (``http(s)://host[:port]/path/{param}``)."""

    kind = "http_proxy"

    def __init__(self, uri: str, *, pools: dict[Origin, UpstreamPool],
                 param_map: Mapping[str, str] | None = None,
                 header_map: Mapping[str, Getter] | None = None, rewrite_host: bool = False,
                 pool_size: int = 64, connect_timeout: float = 5.0, read_timeout: float = 29.0,
                 source: str = "<openapi>", key: str = "") -> None:
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"http_proxy uri must be http(s)://host/..., got {uri!r}",
                              file=source, key=key)
        tls = parts.scheme == "https"
        self.origin = Origin(parts.hostname, parts.port or (443 if tls else 80), tls)
        pool = pools.get(self.origin)
        if pool is None:
            pool = pools[self.origin] = UpstreamPool(
                self.origin, size=pool_size, connect_timeout=connect_timeout,
                read_timeout=read_timeout)
        self.pool = pool
        self.read_timeout = read_timeout
        self.path_template = parts.path or "/"
        self.fixed_query = parts.query
        self.param_map = dict(param_map or {})
        self.header_map = [(k.lower().encode("latin-1"), k.encode("latin-1"), g)
                           for k, g in (header_map or {}).items()]
        self.rewrite_host = rewrite_host
        self.has_placeholders = bool(_PLACEHOLDER.search(self.path_template))
        # the URI template split once: literal, parameter, literal, ... (filled per request)
        pieces = _PLACEHOLDER.split(self.path_template)
        self._literals = pieces[0::2]
        self._sources = [self.param_map.get(n, n).rstrip("+") for n in pieces[1::2]]

    def _target(self, ex: Exchange) -> str:
        path = self.path_template
        if self.has_placeholders:
            params = ex.route.path_params if ex.route else {}
            literals = self._literals
            parts = [literals[0]]
            for i, source in enumerate(self._sources, 1):
                parts.append(params.get(source, ""))
                parts.append(literals[i])
            path = "".join(parts)
        query = ex.request.query_string
        if self.fixed_query:
            query = f"{self.fixed_query}&{query}" if query else self.fixed_query
        return f"{path}?{query}" if query else path

    def _mapped(self, ex: Exchange, headers: list[tuple[bytes, bytes]]
                ) -> list[tuple[bytes, bytes]]:
        """``integration.request.header.X`` mappings replace any header of that name."""
        names = {low for low, _, _ in self.header_map}
        out = [(k, v) for k, v in headers if k.lower() not in names]
        for _, name, getter in self.header_map:
            value = getter(ex)
            if value is not None:
                out.append((name, value.encode("latin-1", "replace")))
        return out

    async def invoke(self, ex: Exchange) -> Response | Interruption:
        headers = forward_headers(ex, host=self.origin.authority if self.rewrite_host else None)
        if self.header_map:
            headers = self._mapped(ex, headers)
        try:
            upstream = await self.pool.request(ex.request.method, self._target(ex), headers,
                                               ex.request.body, timeout=self.read_timeout)
        except UpstreamTimeout as exc:
            ex.note("integration", "upstream_timeout", origin=self.origin.authority,
                    error=str(exc))
            return TIMEOUT
        except UpstreamError as exc:
            ex.note("integration", "upstream_error", origin=self.origin.authority,
                    error=str(exc))
            return BAD_GATEWAY
        out = _response_headers(upstream.headers)
        stream: AsyncIterator[bytes] | None = None
        if not upstream.complete:
            stream = _rest(upstream.body(), skip_first=bool(upstream.first))
        return Response(upstream.status, out, upstream.first, stream)


_HOP_BY_HOP_BYTES = frozenset(n.encode() for n in HOP_BY_HOP)
_REMAPPED_BYTES = {k.encode(): f"x-amzn-Remapped-{v}" for k, v in _REMAPPED.items()}
_PLAIN_CONNECTION = frozenset({b"keep-alive", b"close"})


def _response_headers(raw: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """Upstream response headers as API Gateway returns them: hop-by-hop ones dropped, and
    the ones the gateway sets itself kept under ``x-amzn-Remapped-<Name>`` (recorded on AWS).

    Names are matched as bytes, and only what is kept is decoded. An upstream ``Connection``
    naming more headers than the standard hop-by-hop ones (rare) takes the general path.
    """
    out: list[tuple[str, str]] = []
    for k, v in raw:
        low = k.lower()
        remapped = _REMAPPED_BYTES.get(low)
        if remapped is not None:
            value = v.decode("latin-1")
            out.append((remapped, value))
            if low == b"content-length":
                out.append(("Content-Length", value))
        elif low not in _HOP_BY_HOP_BYTES:
            out.append((k.decode("latin-1"), v.decode("latin-1")))
        if low == b"connection" and v.lower() not in _PLAIN_CONNECTION \
                and not _connection_tokens(v.decode("latin-1")) <= HOP_BY_HOP:
            return _response_headers_named(raw)
    return out


def _response_headers_named(raw: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """``_response_headers`` when ``Connection`` lists extra headers to drop."""
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw]
    drop = set(HOP_BY_HOP)
    for k, v in headers:
        if k.lower() == "connection":
            drop |= _connection_tokens(v)
    out: list[tuple[str, str]] = []
    for k, v in headers:
        low = k.lower()
        remapped = _REMAPPED.get(low)
        if remapped is not None:
            out.append((f"x-amzn-Remapped-{remapped}", v))
            if low == "content-length":
                out.append(("Content-Length", v))
        elif low not in drop:
            out.append((k, v))
    return out


async def _rest(body: AsyncIterator[bytes], *, skip_first: bool) -> AsyncIterator[bytes]:
    """The body after the part already in ``Response.body``."""
    first = skip_first
    async for chunk in body:
        if first:
            first = False
            continue
        yield chunk
