"""Plain HTTP from a chosen loopback source address (the "viewer" of the edge tests)."""

from __future__ import annotations

import http.client

CLIENT = "127.0.0.5"  # the "viewer": a distinct loopback source address


def fetch(port: int, method: str, path: str, body: bytes | None = None,
          headers: dict[str, str] | None = None, *, source: str = CLIENT,
          conn: http.client.HTTPConnection | None = None
          ) -> tuple[int, dict[str, str], bytes]:
    own = conn is None
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                           source_address=(source, 0))
    try:
        c.request(method, path, body=body, headers=headers or {})
        resp = c.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        if own:
            c.close()
