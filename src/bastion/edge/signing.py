"""SigV4 over a forwarded request, exactly as it goes on the wire.

The edge signs the request it is about to send, not the one it received: the path and query
as forwarded, the ``Host`` the origin will see, the body bytes it sends (or ``UNSIGNED-PAYLOAD``
when configured), and a chosen set of headers. Signing a chosen set rather than every header
keeps the signature valid across hops that legitimately add headers (a load balancer appending
``Via``), while the headers that matter to the origin (``host``, ``content-type``,
``x-forwarded-for``, injected secrets) are covered, so changing any of them breaks it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bastion.auth.sigv4 import Credentials, SigningOptions, sign_request

__all__ = ["DEFAULT_SIGNED_HEADERS", "SIGNING_HEADERS", "sign_forwarded"]

# Headers the signer owns: a client's values are dropped before signing.
SIGNING_HEADERS = frozenset({"authorization", "x-amz-date", "x-amz-security-token",
                             "x-amz-content-sha256"})
DEFAULT_SIGNED_HEADERS = ("host", "content-type", "x-forwarded-for")


def sign_forwarded(
    method: str, target: str, headers: Sequence[tuple[bytes, bytes]], body: bytes,
    credentials: Credentials, *, region: str, service: str = "execute-api", now: float,
    signed: Iterable[str] = DEFAULT_SIGNED_HEADERS, unsigned_payload: bool = False,
) -> list[tuple[bytes, bytes]]:
    """The headers to send for ``method target`` with ``body``: ``headers`` (which must hold
    the ``host`` to send) minus any client signing headers, plus ``X-Amz-Date``,
    ``X-Amz-Content-Sha256``, ``X-Amz-Security-Token`` (temporary credentials) and
    ``Authorization``. ``target`` is the request-target as sent (``/path?query``)."""
    names = {n.lower() for n in signed} | {"host"}
    kept: list[tuple[bytes, bytes]] = []
    to_sign: list[tuple[str, str]] = []
    host = None
    for name, value in headers:
        low = name.decode("latin-1").lower()
        if low in SIGNING_HEADERS:
            continue
        if low == "host":
            host = value.decode("latin-1")
        if low in names:
            to_sign.append((low, value.decode("latin-1")))
        else:
            kept.append((name, value))
    if host is None:
        raise ValueError("a forwarded request needs a host header to sign")
    if not target.startswith("/"):
        raise ValueError("target must be an origin-form request-target (/path?query)")
    url = f"http://{host}{target}"  # the scheme does not enter the signature
    out = sign_request(method, url, to_sign, body, credentials, region, service, now,
                       SigningOptions(sign_payload_header=True,
                                      unsigned_payload=unsigned_payload)).headers
    kept.extend((n.encode("latin-1"), v.encode("latin-1")) for n, v in out)
    return kept
