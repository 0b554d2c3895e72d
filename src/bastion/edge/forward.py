"""The edge's origin request: an ``http_proxy`` call, signed and with injected headers.

Runs in the INTEGRATION phase just before the plain integration stage, for routes whose
integration is an ``HttpProxy`` to a protected origin; it reuses that integration's target
(path parameters filled, query kept) and connection pool, and produces the response itself.
The forwarded request carries the client's address in ``X-Forwarded-For`` (by default only
that: a client-sent ``X-Forwarded-For`` is dropped, so a gateway that trusts the header's first
address cannot be told a made-up one) and gets the origin's ``Host``; then injected headers
replace any client-sent value; then the request is signed (``signing: always``, or
``no-override`` when the client sent no ``Authorization`` of its own). When the origin
refuses the signing key itself (the gateway restarted and forgot its sessions), the edge
fetches new credentials and retries once.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from bastion.clock import Clock
from bastion.edge.provider import CredentialSource, CredentialsUnavailable
from bastion.edge.settings import EdgeSettings
from bastion.edge.signing import SIGNING_HEADERS, sign_forwarded
from bastion.errors import UpstreamError, UpstreamTimeout
from bastion.gateway.integrations.http_proxy import (
    BAD_GATEWAY,
    TIMEOUT,
    HttpProxy,
    _response_headers,
    _rest,
    forward_headers,
)
from bastion.http.upstream import Origin, UpstreamPool, UpstreamResponse
from bastion.pipeline import Exchange, Interruption, Phase, Response

__all__ = ["EdgeForwardStage"]

log = logging.getLogger("bastion.edge")

_KEY_REFUSED = frozenset({b"unrecognizedclientexception", b"expiredtokenexception"})
TOO_LARGE = Interruption("REQUEST_TOO_LARGE", status=413, message="Request Too Long",
                         source="edge", reason="body above edge.max_signed_body_bytes")
INTERNAL_PATH = Interruption(
    "MISSING_AUTHENTICATION_TOKEN", source="edge",
    reason="the origin's /_bastion/ endpoints (credentials, health) are never forwarded: over "
           "an mTLS connection the edge's identity would be lent to the viewer")
NO_CREDENTIALS = Interruption("INTEGRATION_FAILURE", status=502,
                              message="Internal server error",
                              error_type="InternalServerErrorException", source="edge",
                              reason="no signing credentials")


class EdgeForwardStage:
    name = "edge"
    phase = Phase.INTEGRATION
    priority = 10  # before the plain integration stage (0)

    def __init__(self, settings: EdgeSettings, credentials: CredentialSource | None,
                 clock: Clock, pools: dict[Origin, UpstreamPool]) -> None:
        self.settings = settings
        self.credentials = credentials
        self.clock = clock
        self.pools = pools  # TLS pools of our own when edge.tls is set
        self.origins = frozenset(settings.origins)
        self.drop = frozenset(name.encode() for name, _ in settings.set_headers)
        self.signing = settings.signing
        self.replace_xff = settings.forwarded_for == "replace"  # the edge is the trust boundary
        plain = self.drop | ({b"x-forwarded-for"} if self.replace_xff else frozenset())
        self.strip_plain = frozenset(plain)
        self.strip_signed = frozenset(plain | {n.encode() for n in SIGNING_HEADERS})
        self.signed = settings.signed_headers

    def _protected(self, proxy: HttpProxy) -> bool:
        return not self.origins or proxy.origin in self.origins

    def _headers(self, ex: Exchange, proxy: HttpProxy) -> list[tuple[bytes, bytes]]:
        host = proxy.origin.authority if self.settings.rewrite_host else None
        headers = forward_headers(ex, host=host)
        strip = self.strip_signed if self._signs(ex) else self.strip_plain
        out = [(n, v) for n, v in headers if n.lower() not in strip]
        if self.replace_xff:
            out.append((b"x-forwarded-for", ex.request.client_ip.encode("latin-1")))
        for name, source in self.settings.set_headers:
            value = source.value()
            if value:
                out.append((name.encode("latin-1"), value.reveal().encode("latin-1")))
        return out

    def _signs(self, ex: Exchange) -> bool:
        if self.signing == "never":
            return False
        if self.signing == "no-override" and ex.request.headers.get("authorization"):
            return False
        return True

    async def run(self, ex: Exchange) -> Interruption | None:
        if ex.response is not None or ex.route is None:
            return None
        proxy = ex.route.route.integration
        if not isinstance(proxy, HttpProxy) or not self._protected(proxy):
            return None
        result = await self._forward(ex, proxy)
        if isinstance(result, Interruption):
            return result
        ex.response = result
        return None

    async def _forward(self, ex: Exchange, proxy: HttpProxy) -> Response | Interruption:
        req = ex.request
        body = req.body
        target = proxy._target(ex)
        if target.startswith("/_bastion/"):  # the origin's own endpoints are not for viewers
            return INTERNAL_PATH
        base = self._headers(ex, proxy)
        signs = self._signs(ex) and self.credentials is not None
        unsigned = self.settings.payload == "unsigned"
        if signs and not unsigned and len(body) > self.settings.max_signed_body_bytes:
            if self.settings.payload != "auto":
                return TOO_LARGE
            unsigned = True
        pool = self.pools.get(proxy.origin) or proxy.pool
        for attempt in (1, 2):
            headers = base
            access_key = None
            if signs:
                assert self.credentials is not None
                try:
                    creds = await self.credentials.current()
                except CredentialsUnavailable as exc:
                    ex.note(self.name, "no_credentials", error=str(exc))
                    return NO_CREDENTIALS
                access_key = creds.access_key
                headers = sign_forwarded(
                    req.method, target, base, body, creds, region=self.settings.region,
                    service=self.settings.service, now=self.clock.time(), signed=self.signed,
                    unsigned_payload=unsigned)
            try:
                upstream = await pool.request(req.method, target, headers, body,
                                              timeout=proxy.read_timeout)
            except UpstreamTimeout as exc:
                ex.note(self.name, "upstream_timeout", origin=proxy.origin.authority,
                        error=str(exc))
                return TIMEOUT
            except UpstreamError as exc:
                ex.note(self.name, "upstream_error", origin=proxy.origin.authority,
                        error=str(exc))
                return BAD_GATEWAY
            if attempt == 1 and access_key is not None and _key_refused(upstream):
                ex.note(self.name, "key_refused", access_key=access_key)
                await upstream.read()
                try:
                    assert self.credentials is not None
                    await self.credentials.invalidate(access_key)
                except CredentialsUnavailable:
                    return NO_CREDENTIALS
                continue
            ex.note(self.name, "forwarded", origin=proxy.origin.authority, signed=signs,
                    access_key=access_key, unsigned_payload=signs and unsigned)
            return _response(upstream)
        raise AssertionError("unreachable")  # pragma: no cover


def _key_refused(upstream: UpstreamResponse) -> bool:
    if upstream.status != 403:
        return False
    kind = next((v for k, v in upstream.headers if k.lower() == b"x-amzn-errortype"), b"")
    return kind.split(b":", 1)[0].strip().lower() in _KEY_REFUSED


def _response(upstream: UpstreamResponse) -> Response:
    out = _response_headers(upstream.headers)
    stream: AsyncIterator[bytes] | None = None
    if not upstream.complete:
        stream = _rest(upstream.body(), skip_first=bool(upstream.first))
    return Response(upstream.status, out, upstream.first, stream)
