"""Compiling an OpenAPI definition into routes with ready-to-call integrations."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from bastion.config import ANY_METHOD, ApiDefinition, Operation, Settings
from bastion.errors import ConfigError, ConfigErrors
from bastion.gateway.integrations.events import EventContext
from bastion.gateway.integrations.http_proxy import HttpProxy
from bastion.gateway.integrations.mapping import Getter, compile_source
from bastion.gateway.integrations.mock import MockIntegration
from bastion.gateway.integrations.python_handler import PythonHandler, load_handler
from bastion.gateway.routing import Router
from bastion.http.upstream import Origin, UpstreamPool
from bastion.pipeline import Exchange, Interruption, Response

__all__ = ["CompiledApi", "Integration", "Route", "compile_api"]

_LAMBDA_URI = re.compile(
    r"^arn:aws[\w-]*:apigateway:[\w-]+:lambda:path/\d{4}-\d{2}-\d{2}/functions/"
    r"arn:aws[\w-]*:lambda:[\w-]+:\d{12}:function:([\w-]+)(?::[\w$-]+)?/invocations$")
_DIRECT = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class Integration(Protocol):
    kind: str

    async def invoke(self, ex: Exchange) -> Response | Interruption: ...


@dataclass(frozen=True, slots=True)
class Route:
    """One operation: what later layers (auth, keys, validation) read about it."""

    method: str
    template: str
    operation: Operation
    integration: Integration
    resource_id: str
    auth_type: str = "NONE"  # NONE | AWS_IAM | CUSTOM | COGNITO_USER_POOLS | JWT
    authorizer: str | None = None  # name of the security scheme used as authorizer
    scopes: tuple[str, ...] = ()
    api_key_required: bool = False

    @property
    def any_method(self) -> bool:
        return self.method == ANY_METHOD


@dataclass(frozen=True, slots=True)
class CompiledApi:
    definition: ApiDefinition
    routes: tuple[Route, ...]
    router: Router[Route]
    event_context: EventContext
    stage_prefix: str  # "/prod", or "" for an HTTP API $default stage
    pools: dict[Origin, UpstreamPool] = field(default_factory=dict)

    def close(self) -> None:
        for pool in self.pools.values():
            pool.close()


def _resource_id(template: str) -> str:
    return hashlib.sha1(template.encode()).hexdigest()[:10]  # an id, not a security use


def _auth_of(op: Operation, api: ApiDefinition) -> tuple[str, str | None, tuple[str, ...], bool]:
    """Derive API Gateway's authorizationType from the operation's security requirement."""
    auth, authorizer, key_required = "NONE", None, False
    scopes: tuple[str, ...] = ()
    for requirement in op.security or []:
        if not isinstance(requirement, Mapping):
            continue
        for name, req_scopes in requirement.items():
            scheme = api.security_schemes.get(name)
            if not isinstance(scheme, Mapping):
                raise ConfigError(f"security requirement names an undefined scheme {name!r}",
                                  file=str(api.source), line=op.line,
                                  key=f"paths.{op.path}.{op.method.lower()}.security")
            authtype = str(scheme.get("x-amazon-apigateway-authtype", "")).lower()
            authz = scheme.get("x-amazon-apigateway-authorizer")
            if scheme.get("type") == "apiKey" and str(scheme.get("name", "")).lower() == \
                    "x-api-key" and not authz:
                key_required = True
            elif authtype == "awssigv4":
                auth = "AWS_IAM"
            elif isinstance(authz, Mapping):
                kind = str(authz.get("type", "")).lower()
                auth = {"cognito_user_pools": "COGNITO_USER_POOLS", "jwt": "JWT"}.get(
                    kind, "CUSTOM")
                authorizer = name
                scopes = tuple(req_scopes or ())
    return auth, authorizer, scopes, key_required


def _integration(op: Operation, settings: Settings, api: ApiDefinition,
                 ctx: EventContext, pools: dict[Origin, UpstreamPool]) -> Integration:
    src = str(api.source)
    key = f"paths.{op.path}.{op.method.lower()}.x-amazon-apigateway-integration"
    spec = op.integration
    if spec is None:
        raise ConfigError("operation has no x-amazon-apigateway-integration", file=src,
                          line=op.line, key=key)
    kind = str(spec.get("type", "")).lower()
    uri = str(spec.get("uri", ""))
    timeout_ms = spec.get("timeoutInMillis")
    if timeout_ms is not None and (not isinstance(timeout_ms, int) or timeout_ms <= 0):
        raise ConfigError("timeoutInMillis must be a positive integer", file=src,
                          line=op.line, key=f"{key}.timeoutInMillis")
    if kind == "aws_proxy":
        if _DIRECT.match(uri):
            ref, name, fn_timeout = uri, uri.rsplit(":", 1)[1], None
        else:
            m = _LAMBDA_URI.match(uri)
            if not m:
                raise ConfigError(
                    f"aws_proxy uri must be 'package.module:function' or a Lambda invocation "
                    f"ARN, got {uri!r}", file=src, line=op.line, key=f"{key}.uri")
            name = m.group(1)
            fn = settings.functions.get(name)
            if fn is None:
                raise ConfigError(
                    f"Lambda function {name!r} has no handler: add it under 'functions:' in "
                    f"{settings.source or 'bastion.yaml'}", file=src, line=op.line,
                    key=f"{key}.uri")
            ref, fn_timeout = fn.handler, fn.timeout_ms
        default_version = "2.0" if settings.api.kind == "http" else "1.0"
        version = str(spec.get("payloadFormatVersion", default_version))
        if version not in ("1.0", "2.0"):
            raise ConfigError(f"payloadFormatVersion must be 1.0 or 2.0, got {version!r}",
                              file=src, line=op.line, key=f"{key}.payloadFormatVersion")
        timeout = (timeout_ms or fn_timeout or settings.limits.handler_timeout_ms) / 1000
        return PythonHandler(load_handler(ref, file=src, key=f"{key}.uri"), name=name, ctx=ctx,
                             region=settings.api.region, payload_version=version,
                             timeout_s=timeout)
    if kind == "http_proxy":
        params = spec.get("requestParameters") or {}
        param_map: dict[str, str] = {}
        header_map: dict[str, Getter] = {}
        for target, source in params.items():
            t, s = str(target), str(source)
            if t.startswith("integration.request.path.") and s.startswith("method.request.path."):
                param_map[t.rsplit(".", 1)[1]] = s.rsplit(".", 1)[1]
            elif t.startswith("integration.request.header."):
                header_map[t[len("integration.request.header."):]] = compile_source(
                    s, file=src, key=f"{key}.requestParameters")
        read_ms = timeout_ms or settings.upstream.read_timeout_ms
        return HttpProxy(uri, pools=pools, param_map=param_map, header_map=header_map,
                         rewrite_host=settings.upstream.rewrite_host,
                         pool_size=settings.upstream.pool_size,
                         connect_timeout=settings.upstream.connect_timeout_ms / 1000,
                         read_timeout=read_ms / 1000, source=src, key=f"{key}.uri")
    if kind == "mock":
        return MockIntegration(spec, ctx, source=src, key=key)
    raise ConfigError(f"integration type {spec.get('type')!r} is not supported; use aws_proxy "
                      "(Python handler), http_proxy or mock", file=src, line=op.line,
                      key=f"{key}.type")


def compile_api(settings: Settings, api: ApiDefinition) -> CompiledApi:
    binary = api.extension("x-amazon-apigateway-binary-media-types") or []
    ctx = EventContext(account_id=settings.api.account_id, api_id=settings.api.api_id,
                       stage=settings.api.stage, stage_variables=settings.api.stage_variables,
                       binary_types=tuple(str(b) for b in binary),
                       deployment_id=_resource_id(str(api.source))[:6])
    pools: dict[Origin, UpstreamPool] = {}
    routes: list[Route] = []
    errors: list[ConfigError] = []
    for op in api.operations:
        try:
            auth, authorizer, scopes, key_req = _auth_of(op, api)
            explicit_key = op.raw.get("x-amazon-apigateway-api-key-required")
            routes.append(Route(
                method=op.method, template=op.path, operation=op,
                integration=_integration(op, settings, api, ctx, pools),
                resource_id=_resource_id(op.path), auth_type=auth, authorizer=authorizer,
                scopes=scopes, api_key_required=bool(explicit_key) or key_req,
            ))
        except ConfigError as exc:
            errors.append(exc)
    try:
        router: Router[Route] = Router((r.method, r.template, r) for r in routes)
    except ConfigError as exc:
        errors.append(ConfigError(exc.message, file=str(api.source), key=exc.key))
        router = Router(())
    if errors:
        raise ConfigErrors(errors) if len(errors) > 1 else errors[0]
    prefix = "" if settings.api.stage == "$default" else f"/{settings.api.stage}"
    return CompiledApi(api, tuple(routes), router, ctx, prefix, pools)


