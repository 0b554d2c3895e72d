"""``requestParameters`` values: where an integration request header's value comes from.

API Gateway maps method-request data and context into the integration request with
expressions such as ``method.request.header.X``, ``method.request.querystring.q``,
``method.request.path.id``, ``context.authorizer.claims.sub``, ``context.authorizer.principalId``,
``context.requestId``, ``context.identity.sourceIp`` or a static ``'value'``. Each expression
compiles once into a getter; a missing value omits the header, as on AWS.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bastion.errors import ConfigError
from bastion.pipeline import Exchange

__all__ = ["Getter", "compile_source"]

Getter = Callable[[Exchange], str | None]


def _stringify(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _authorizer(path: list[str]) -> Getter:
    def get(ex: Exchange) -> str | None:
        node: Any = ex.authorizer
        for part in path:
            if not isinstance(node, dict):
                return None
            node = node.get(part)
        return _stringify(node)
    return get


def compile_source(expr: str, *, file: str | None = None, key: str | None = None) -> Getter:
    """A getter for one mapping expression; unknown forms are a ConfigError at load."""
    if len(expr) >= 2 and expr[0] == expr[-1] == "'":
        static = expr[1:-1]
        return lambda ex: static
    for where in ("header", "querystring", "path"):
        prefix = f"method.request.{where}."
        if expr.startswith(prefix):
            name = expr[len(prefix):]
            if where == "header":
                return lambda ex: ex.request.headers.get(name)
            if where == "querystring":
                return lambda ex: next((v for k, v in ex.request.query_params if k == name),
                                       None)
            return lambda ex: ex.route.path_params.get(name) if ex.route else None
    if expr.startswith("context.authorizer."):
        return _authorizer(expr[len("context.authorizer."):].split("."))
    simple: dict[str, Getter] = {
        "context.requestId": lambda ex: ex.request_id,
        "context.identity.sourceIp": lambda ex: ex.request.client_ip,
        "context.httpMethod": lambda ex: ex.request.method,
        "context.stage": lambda ex: ex.stage_name,
        "context.resourcePath": lambda ex: ex.route.resource_path if ex.route else None,
        "context.identity.userArn": lambda ex: _stringify(ex.identity.get("userArn")),
        "context.identity.accessKey": lambda ex: _stringify(ex.identity.get("accessKey")),
        "context.identity.apiKeyId": lambda ex: _stringify(ex.identity.get("apiKeyId")),
    }
    getter = simple.get(expr)
    if getter is None:
        raise ConfigError(f"unsupported request parameter source {expr!r} (use 'static', "
                          "method.request.header|querystring|path.NAME, context.authorizer.*, "
                          "context.requestId, context.identity.sourceIp ...)", file=file,
                          key=key)
    return getter
