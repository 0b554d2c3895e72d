"""``bastion sign`` (print SigV4 headers or a presigned URL) and ``bastion curl`` (send a
signed request), so users need no other tool to call an AWS_IAM-protected route.

Credentials come from ``--access-key``/``--secret-key``/``--session-token`` or the usual
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN`` environment variables.
Exit codes: 0 ok (curl: status < 400), 1 HTTP error status, 2 usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ._keys import Credentials
from .signer import SignedRequest, SigningOptions, presign_url, sign_request

__all__ = ["add_parsers", "run_curl", "run_sign"]

_MAX_BODY = 10 * 1_048_576


class _UsageError(Exception):
    pass


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("url", help="full URL, e.g. http://127.0.0.1:8080/prod/pets")
    p.add_argument("-X", "--request", dest="method", default=None, help="HTTP method")
    p.add_argument("-H", "--header", action="append", default=[], metavar="'Name: value'",
                   help="extra header to send and sign (repeatable)")
    p.add_argument("-d", "--data", default=None, help="body, or @file to read it from a file")
    p.add_argument("--region", default=os.environ.get("AWS_REGION")
                   or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")
    p.add_argument("--service", default="execute-api")
    p.add_argument("--access-key", default=None)
    p.add_argument("--secret-key", default=None)
    p.add_argument("--session-token", default=None)
    p.add_argument("--presign", action="store_true", help="query-string (presigned) form")
    p.add_argument("--expires", type=int, default=300, help="presigned URL lifetime, seconds")


def add_parsers(subparsers: Any) -> None:
    """Add ``sign`` and ``curl`` to a ``bastion`` subparsers object."""
    sign = subparsers.add_parser("sign", help="print SigV4 headers (or a presigned URL)")
    _common(sign)
    sign.add_argument("-v", "--verbose", action="store_true",
                      help="also print the canonical request and string to sign")
    sign.set_defaults(handler=run_sign)
    curl = subparsers.add_parser("curl", help="send a SigV4-signed request")
    _common(curl)
    curl.add_argument("-i", "--include", action="store_true", help="print response headers")
    curl.add_argument("--timeout", type=float, default=30.0)
    curl.set_defaults(handler=run_curl)


def _credentials(args: argparse.Namespace) -> Credentials:
    ak = args.access_key or os.environ.get("AWS_ACCESS_KEY_ID")
    sk = args.secret_key or os.environ.get("AWS_SECRET_ACCESS_KEY")
    token = args.session_token or os.environ.get("AWS_SESSION_TOKEN") or None
    if not ak or not sk:
        raise _UsageError("no credentials: pass --access-key/--secret-key or set "
                          "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
    return Credentials.of(ak, sk, token)


def _body(args: argparse.Namespace) -> bytes:
    if args.data is None:
        return b""
    if args.data.startswith("@"):
        try:
            data = Path(args.data[1:]).read_bytes()
        except OSError as exc:
            raise _UsageError(f"cannot read {args.data[1:]}: {exc.strerror}") from None
    else:
        data = args.data.encode()
    if len(data) > _MAX_BODY:
        raise _UsageError("body larger than 10 MB")
    return data


def _headers(args: argparse.Namespace) -> list[tuple[str, str]]:
    out = []
    for raw in args.header:
        name, sep, value = raw.partition(":")
        if not sep or not name.strip():
            raise _UsageError(f"header must be 'Name: value', got {raw!r}")
        out.append((name.strip(), value.strip()))
    return out


def _sign(args: argparse.Namespace) -> tuple[str, SignedRequest, bytes]:
    parts = urlsplit(args.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _UsageError(f"not an http(s) URL: {args.url!r}")
    body = _body(args)
    method = (args.method or ("POST" if body else "GET")).upper()
    creds = _credentials(args)
    headers = _headers(args)
    now = time.time()
    if args.presign:
        if not 1 <= args.expires <= 604_800:
            raise _UsageError("--expires must be 1..604800")
        signed = presign_url(method, args.url, headers, body, creds, args.region, args.service,
                             now, expires=args.expires)
    else:
        signed = sign_request(method, args.url, headers, body, creds, args.region,
                              args.service, now, SigningOptions())
    return method, signed, body


def run_sign(args: argparse.Namespace) -> int:
    """``bastion sign``: print headers (``Name: value`` lines) or the presigned URL."""
    try:
        _method, signed, _body_bytes = _sign(args)
    except _UsageError as exc:
        print(f"bastion sign: error: {exc}", file=sys.stderr)
        return 2
    if args.presign:
        print(signed.url)
    else:
        for name, value in signed.headers:
            print(f"{name}: {value}")
    if args.verbose:
        print(f"\n# canonical request\n{signed.canonical_request}\n\n"
              f"# string to sign\n{signed.string_to_sign}", file=sys.stderr)
    return 0


def run_curl(args: argparse.Namespace) -> int:
    """``bastion curl``: send the signed request, print the response body (and headers)."""
    try:
        method, signed, body = _sign(args)
    except _UsageError as exc:
        print(f"bastion curl: error: {exc}", file=sys.stderr)
        return 2
    req = urllib.request.Request(signed.url, data=body or None, method=method)
    for name, value in signed.headers:
        req.add_header(name, value)
    handlers: list[urllib.request.BaseHandler] = []
    if urlsplit(signed.url).hostname in ("127.0.0.1", "localhost", "::1"):
        handlers.append(urllib.request.ProxyHandler({}))  # loopback never goes via a proxy
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(req, timeout=args.timeout) as resp:
            status, reason, headers, payload = (resp.status, resp.reason,
                                                list(resp.headers.items()), resp.read())
    except urllib.error.HTTPError as exc:
        status, reason, headers, payload = exc.code, exc.reason, list(exc.headers.items()), (
            exc.read())
    except (urllib.error.URLError, OSError) as exc:
        print(f"bastion curl: error: {getattr(exc, 'reason', exc)}", file=sys.stderr)
        return 2
    if args.include:
        print(f"HTTP {status} {reason}")
        for name, value in headers:
            print(f"{name}: {value}")
        print()
    sys.stdout.write(payload.decode("utf-8", "replace"))
    if payload and not payload.endswith(b"\n"):
        sys.stdout.write("\n")
    return 0 if status < 400 else 1
