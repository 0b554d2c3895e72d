"""Upstream response headers: hop-by-hop ones dropped, gateway-owned ones remapped, and the
fast path (bytes) agrees with the general one when Connection names extra headers."""

from __future__ import annotations

import pytest

from bastion.gateway.integrations.http_proxy import _response_headers, _response_headers_named

BASE = [(b"Server", b"nginx"), (b"Date", b"Thu, 26 Nov 2026 00:00:00 GMT"),
        (b"Content-Type", b"application/json"), (b"Content-Length", b"70"),
        (b"X-Custom", b"yes"), (b"Keep-Alive", b"timeout=5"), (b"Transfer-Encoding", b"x")]


@pytest.mark.parametrize("connection", [None, b"keep-alive", b"close", b"Keep-Alive, Upgrade",
                                        b"keep-alive, X-Custom", b"X-CUSTOM", b"content-length",
                                        b""])
def test_fast_path_matches_the_general_one(connection: bytes | None) -> None:
    raw = list(BASE) + ([(b"Connection", connection)] if connection is not None else [])
    assert _response_headers(raw) == _response_headers_named(raw)


def test_remapped_and_dropped() -> None:
    out = _response_headers(list(BASE) + [(b"Connection", b"keep-alive, X-Custom")])
    assert out == [("x-amzn-Remapped-Server", "nginx"),
                   ("x-amzn-Remapped-Date", "Thu, 26 Nov 2026 00:00:00 GMT"),
                   ("Content-Type", "application/json"),
                   ("x-amzn-Remapped-Content-Length", "70"), ("Content-Length", "70"),
                   ("x-amzn-Remapped-Connection", "keep-alive, X-Custom")]
