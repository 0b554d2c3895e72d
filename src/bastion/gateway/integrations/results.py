"""Turning a handler's return value into an HTTP response, with API Gateway's strictness.

REST (payload 1.0) accepts only ``statusCode, headers, multiValueHeaders, body,
isBase64Encoded``; anything else, a non-dict, an empty dict, a non-numeric status or a
non-list multi-value header is a malformed result (502). HTTP APIs (2.0) are lenient: a result
without ``statusCode`` is JSON-serialised as the body with status 200.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from bastion.errors import HandlerError
from bastion.pipeline import Response

__all__ = ["parse_v1", "parse_v2"]

_V1_KEYS = frozenset({"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"})


def _status(value: Any) -> int:
    if isinstance(value, bool):
        raise HandlerError("statusCode must be an integer")
    if isinstance(value, int):
        status = value
    elif isinstance(value, str) and value.strip().isdigit():
        status = int(value)
    else:
        raise HandlerError(f"statusCode must be an integer, got {value!r}")
    if not 100 <= status <= 599:
        raise HandlerError(f"statusCode out of range: {status}")
    return status


def _scalar(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise HandlerError(f"header values must be strings, numbers or booleans, got {value!r}")


def _body_bytes(body: Any, b64: Any, decode: bool = True) -> bytes:
    if body is None:
        return b""
    if not isinstance(body, str):
        raise HandlerError("body must be a string")
    if b64 is True and decode:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise HandlerError("isBase64Encoded is true but body is not base64") from None
    return body.encode("utf-8")


def _merge_headers(headers: Any, multi: Any) -> list[tuple[str, str]]:
    """multiValueHeaders first, then headers appended under the same (first-seen) name."""
    merged: dict[str, tuple[str, list[str]]] = {}
    if multi is not None:
        if not isinstance(multi, dict):
            raise HandlerError("multiValueHeaders must be an object")
        for name, values in multi.items():
            if not isinstance(values, list):
                raise HandlerError(f"multiValueHeaders[{name!r}] must be a list")
            vals = [v for v in (_scalar(x) for x in values) if v is not None]
            merged.setdefault(name.lower(), (name, []))[1].extend(vals)
    if headers is not None:
        if not isinstance(headers, dict):
            raise HandlerError("headers must be an object")
        for name, value in headers.items():
            v = _scalar(value)
            if v is None:
                continue
            merged.setdefault(name.lower(), (name, []))[1].append(v)
    return [(name, ", ".join(values)) for name, values in merged.values() if values]


def _finish(status: int, headers: list[tuple[str, str]], body: bytes) -> Response:
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return Response(status, headers, body)


def parse_v1(result: Any, *, binary: bool = False) -> Response:
    """``binary``: the request's Accept matches a binary media type, the only case in which
    a REST API decodes an ``isBase64Encoded`` body (otherwise the base64 text is the body)."""
    if not isinstance(result, dict) or not result:
        raise HandlerError("the handler must return a non-empty object")
    extra = set(result) - _V1_KEYS
    if extra:
        raise HandlerError(f"unexpected key(s) in the handler result: {sorted(extra)}")
    status = _status(result["statusCode"]) if "statusCode" in result else 200
    headers = _merge_headers(result.get("headers"), result.get("multiValueHeaders"))
    body = _body_bytes(result.get("body"), result.get("isBase64Encoded"), binary)
    return _finish(status, headers, body)


def parse_v2(result: Any) -> Response:
    if isinstance(result, dict) and "statusCode" in result:
        status = _status(result["statusCode"])
        headers = _merge_headers(result.get("headers"), result.get("multiValueHeaders"))
        cookies = result.get("cookies")
        if cookies is not None:
            if not isinstance(cookies, list) or not all(isinstance(c, str) for c in cookies):
                raise HandlerError("cookies must be a list of strings")
            headers.extend(("Set-Cookie", c) for c in cookies)
        body = _body_bytes(result.get("body"), result.get("isBase64Encoded"))
        return _finish(status, headers, body)
    if result is None:
        return _finish(200, [], b"")
    if isinstance(result, str):
        return _finish(200, [], result.encode("utf-8"))
    try:
        body = orjson.dumps(result)
    except TypeError:
        raise HandlerError("the handler result is not JSON-serialisable") from None
    return _finish(200, [], body)
