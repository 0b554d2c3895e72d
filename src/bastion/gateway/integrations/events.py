"""Lambda proxy events as API Gateway builds them: REST payload 1.0 and HTTP API payload 2.0.

Every rule here is pinned by a recorded AWS event (tests/vectors/apigw): header names keep the
client's case in v1 and are lower-cased (repeats comma-joined) in v2; the last repeated query
value wins in ``queryStringParameters``; ``path`` and path parameters stay percent-encoded;
``requestContext.path`` keeps the stage prefix and the raw slashes; absent collections are null.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from typing import Any

from bastion.pipeline import Exchange

__all__ = ["EventContext", "accepts_binary", "build_v1", "build_v2", "is_binary"]

_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript",
               "application/x-www-form-urlencoded", "application/graphql")


class EventContext:
    """The API-level facts every event carries (account, api id, stage, variables)."""

    __slots__ = ("account_id", "api_id", "binary_types", "deployment_id", "stage",
                 "stage_variables")

    def __init__(self, *, account_id: str, api_id: str, stage: str,
                 stage_variables: Mapping[str, str] | None = None,
                 binary_types: tuple[str, ...] = (), deployment_id: str = "bastion") -> None:
        self.deployment_id = deployment_id
        self.account_id = account_id
        self.api_id = api_id
        self.stage = stage
        self.stage_variables = dict(stage_variables) if stage_variables else None
        self.binary_types = binary_types


def is_binary(content_type: str | None, body: bytes, binary_types: tuple[str, ...]) -> bool:
    """REST: binary when the Content-Type is a declared binary media type; bodies that are
    not UTF-8 are always passed base64-encoded so no byte is lost."""
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    for pattern in binary_types:
        p = pattern.lower()
        if p == "*/*" or p == ctype or (p.endswith("/*") and ctype.startswith(p[:-1])):
            return True
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def accepts_binary(accept: str | None, binary_types: tuple[str, ...]) -> bool:
    """Whether any media type in an Accept header is one of the binary media types."""
    if not accept:
        return False
    return any(is_binary(part.split(";", 1)[0], b"", binary_types)
               for part in accept.split(","))


def _body(ex: Exchange, binary_types: tuple[str, ...]) -> tuple[str | None, bool]:
    body = ex.request.body
    if not body:
        return None, False
    if is_binary(ex.request.headers.get("content-type"), body, binary_types):
        return base64.b64encode(body).decode("ascii"), True
    return body.decode("utf-8"), False


def _request_time(wall: float) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(wall))


def _stage_relative(raw_path: str, stage: str) -> str:
    """The path below ``/stage``; leading duplicate slashes collapse as API Gateway does."""
    rest = raw_path
    if stage != "$default":
        prefix = "/" + stage
        rest = raw_path[len(prefix):] if raw_path.startswith(prefix) else raw_path
    return "/" + rest.lstrip("/")


def _identity(ex: Exchange) -> dict[str, Any]:
    ident: dict[str, Any] = {
        "accessKey": None, "accountId": None, "caller": None,
        "cognitoAuthenticationProvider": None, "cognitoAuthenticationType": None,
        "cognitoIdentityId": None, "cognitoIdentityPoolId": None, "principalOrgId": None,
        "sourceIp": ex.request.client_ip, "user": None,
        "userAgent": ex.request.headers.get("user-agent"), "userArn": None,
    }
    ident.update(ex.identity)
    return ident


def build_v1(ex: Exchange, ctx: EventContext) -> dict[str, Any]:
    req = ex.request
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in req.headers:
        headers[name] = value
        multi_headers.setdefault(name, []).append(value)
    query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, value in req.query_params:
        query[name] = value
        multi_query.setdefault(name, []).append(value)
    route = ex.route
    host = req.headers.get("host") or req.host
    body, b64 = _body(ex, ctx.binary_types)
    request_context: dict[str, Any] = {
        "accountId": ctx.account_id,
        "apiId": ctx.api_id,
        "deploymentId": ctx.deployment_id,
        "domainName": host,
        "domainPrefix": host.split(".", 1)[0].split(":", 1)[0] if host else "",
        "extendedRequestId": ex.request_id,
        "httpMethod": req.method,
        "identity": _identity(ex),
        "path": "/" + req.raw_path.lstrip("/") if req.raw_path.startswith("//")
        else req.raw_path,
        "protocol": f"HTTP/{req.http_version}",
        "requestId": ex.request_id,
        "requestTime": _request_time(ex.started_at),
        "requestTimeEpoch": int(ex.started_at * 1000),
        "resourceId": route.route.resource_id if route else None,
        "resourcePath": route.resource_path if route else None,
        "stage": ctx.stage,
    }
    if ex.authorizer is not None:
        request_context["authorizer"] = ex.authorizer
    return {
        "resource": route.resource_path if route else None,
        "path": route.path if route else _stage_relative(req.raw_path, ctx.stage),
        "httpMethod": req.method,
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": dict(route.path_params) if route and route.path_params else None,
        "stageVariables": ctx.stage_variables,
        "requestContext": request_context,
        "body": body,
        "isBase64Encoded": b64,
    }


def build_v2(ex: Exchange, ctx: EventContext) -> dict[str, Any]:
    req = ex.request
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in req.headers:
        low = name.lower()
        if low == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        headers[low] = f"{headers[low]},{value}" if low in headers else value
    query: dict[str, str] = {}
    for name, value in req.query_params:
        query[name] = f"{query[name]},{value}" if name in query else value
    route = ex.route
    route_key = f"{req.method} {route.resource_path}" if route else "$default"
    if route is not None and getattr(route.route, "any_method", False):
        route_key = f"ANY {route.resource_path}"
    host = req.headers.get("host") or req.host
    body, b64 = _body(ex, ctx.binary_types)
    request_context: dict[str, Any] = {
        "accountId": ctx.account_id,
        "apiId": ctx.api_id,
        "domainName": host,
        "domainPrefix": host.split(".", 1)[0].split(":", 1)[0] if host else "",
        "http": {
            "method": req.method,
            "path": req.raw_path,
            "protocol": f"HTTP/{req.http_version}",
            "sourceIp": req.client_ip,
            "userAgent": req.headers.get("user-agent", ""),
        },
        "requestId": ex.request_id,
        "routeKey": route_key,
        "stage": ctx.stage,
        "time": _request_time(ex.started_at),
        "timeEpoch": int(ex.started_at * 1000),
    }
    if ex.authorizer is not None:
        request_context["authorizer"] = ex.authorizer
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": req.raw_path,
        "rawQueryString": req.query_string,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = request_context
    if body is not None:
        event["body"] = body
    if route is not None and route.path_params:
        event["pathParameters"] = dict(route.path_params)
    event["isBase64Encoded"] = b64
    if ctx.stage_variables:
        event["stageVariables"] = ctx.stage_variables
    return event
