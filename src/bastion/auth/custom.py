"""Custom (Lambda-style) authorizers: a Python callable fed the event AWS sends a Lambda authorizer.

Behaviour follows API Gateway (gateway-semantics.md §2): TOKEN and REQUEST types, REST and
HTTP-API payloads 1.0/2.0, identity-source pre-validation (401 without invoking), result caching
keyed on the identity sources only, the returned IAM policy evaluated against *this* request's
methodArn, and AWS's error mapping:

* raises an exception whose message is exactly ``Unauthorized`` -> 401 (``{"message":...}``)
* the policy explicitly denies the methodArn -> 403 ``{"Message": "... with an explicit deny"}``
* the policy does not cover the methodArn (implicit deny) -> 403 ``{"Message": "User is not ..."}``
* any other exception, a timeout, or malformed output -> 500 ``{"message": null}``

The well-known pitfall is reproduced, not fixed: a policy cached for one methodArn is re-applied
to other methods within the TTL. The trace then says which cached methodArn's policy was applied
to which request methodArn, and what to change.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import inspect
import json
import logging
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from bastion.auth import iam
from bastion.auth.outcome import (
    AuthOutcome,
    access_denied,
    allowed,
    authorizer_error,
    explicit_deny,
    forbidden,
    unauthorized,
)
from bastion.auth.policy_seam import Decision, PolicyError, evaluate
from bastion.auth.request import AuthRequest
from bastion.auth.trace import Tracer, mask
from bastion.clock import Clock, SystemClock
from bastion.errors import ConfigError
from bastion.state import Feature, GuardedStorage, Storage

__all__ = [
    "CustomAuthorizer",
    "CustomAuthorizerConfig",
    "authorizer_context_v1",
    "authorizer_context_v2",
    "build_event",
    "load_callable",
]

_log = logging.getLogger("bastion.auth.custom")
AuthorizerType = Literal["TOKEN", "REQUEST"]
Payload = Literal["REST", "1.0", "2.0"]
MAX_TTL = 3600
_REST_SOURCE = re.compile(
    r"(method\.request\.header|method\.request\.querystring|stageVariables|context)\.(.+)")
_HTTP_SOURCE = re.compile(r"\$(request\.header|request\.querystring|context|stageVariables)\.(.+)")


def load_callable(ref: str) -> Callable[..., Any]:
    """Import ``module:function`` (dotted attributes allowed after the colon)."""
    mod_name, sep, attr = ref.partition(":")
    if not sep or not mod_name or not attr:
        raise ConfigError(f"authorizer function {ref!r} is not 'module:function'",
                          key="function")
    try:
        obj: Any = importlib.import_module(mod_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"cannot load authorizer {ref!r}: {e}", key="function") from None
    if not callable(obj):
        raise ConfigError(f"authorizer {ref!r} is not callable", key="function")
    return obj  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class CustomAuthorizerConfig:
    """One ``x-amazon-apigateway-authorizer`` of type token/request, bound to a Python callable."""

    name: str
    function: str | Callable[..., Any]
    type: AuthorizerType = "TOKEN"
    identity_sources: tuple[str, ...] = ("method.request.header.Authorization",)
    identity_validation_expression: str | None = None
    ttl: int = 300
    payload: Payload = "REST"
    simple_responses: bool = False
    timeout: float = 10.0
    cache_size: int = 10_000

    def __post_init__(self) -> None:
        if self.type not in ("TOKEN", "REQUEST"):
            raise ConfigError(f"authorizer type must be TOKEN or REQUEST, not {self.type!r}",
                              key=f"{self.name}.type")
        if not isinstance(self.ttl, int) or not 0 <= self.ttl <= MAX_TTL:
            raise ConfigError(f"authorizerResultTtlInSeconds must be 0..{MAX_TTL}, "
                              f"not {self.ttl!r}", key=f"{self.name}.authorizerResultTtlInSeconds")
        if self.payload != "REST" and self.type != "REQUEST":
            raise ConfigError("HTTP API Lambda authorizers are REQUEST authorizers",
                              key=f"{self.name}.type")
        if self.simple_responses and self.payload != "2.0":
            raise ConfigError("enableSimpleResponses needs payload format 2.0",
                              key=f"{self.name}.enableSimpleResponses")
        if self.ttl > 0 and not self.identity_sources:
            raise ConfigError("caching (TTL > 0) needs at least one identity source",
                              key=f"{self.name}.identitySource")
        if self.type == "TOKEN" and len(self.identity_sources) != 1:
            raise ConfigError("a TOKEN authorizer has exactly one identity source (a header)",
                              key=f"{self.name}.identitySource")
        rx = _HTTP_SOURCE if self.payload != "REST" else _REST_SOURCE
        for src in self.identity_sources:
            if not rx.fullmatch(src):
                raise ConfigError(f"unsupported identity source {src!r}",
                                  key=f"{self.name}.identitySource")
        if self.type == "TOKEN" and not self.identity_sources[0].startswith(
                "method.request.header."):
            raise ConfigError("a TOKEN authorizer's identity source must be a header",
                              key=f"{self.name}.identitySource")
        if self.identity_validation_expression is not None:
            try:
                re.compile(self.identity_validation_expression)
            except re.error as e:
                raise ConfigError(f"identityValidationExpression does not compile: {e}",
                                  key=f"{self.name}.identityValidationExpression") from None
        if not 0 < self.timeout <= 30:
            raise ConfigError("timeout must be within (0, 30] seconds", key=f"{self.name}.timeout")
        if not 1 <= self.cache_size <= 1_000_000:
            raise ConfigError("cache_size must be within 1..1000000", key=f"{self.name}.cache_size")

    @classmethod
    def from_openapi(cls, name: str, ext: Mapping[str, Any], *,
                     function: str | Callable[..., Any] | None = None,
                     http_api: bool = False) -> CustomAuthorizerConfig:
        """From an ``x-amazon-apigateway-authorizer`` object. The callable comes from
        ``function=``, ``x-bastion-function`` or a non-ARN ``authorizerUri`` (module:function)."""
        fn = function or ext.get("x-bastion-function")
        uri = ext.get("authorizerUri")
        if fn is None and isinstance(uri, str) and not uri.startswith("arn:"):
            fn = uri
        if fn is None:
            raise ConfigError("custom authorizer needs a Python callable "
                              "(x-bastion-function: 'module:function')", key=name)
        typ = str(ext.get("type", "token")).upper()
        raw_src = ext.get("identitySource")
        if isinstance(raw_src, list):
            sources = tuple(str(s).strip() for s in raw_src)
        elif isinstance(raw_src, str) and raw_src.strip():
            sources = tuple(s.strip() for s in raw_src.split(","))
        elif typ == "TOKEN":
            sources = ("method.request.header.Authorization",)
        else:  # REQUEST: optional without caching, required with it (checked in __post_init__)
            sources = ()
        ttl = ext.get("authorizerResultTtlInSeconds", 300 if not http_api else 0)
        payload: Payload = "REST"
        if http_api:
            payload = "2.0" if str(ext.get("authorizerPayloadFormatVersion", "2.0")) == "2.0" \
                else "1.0"
        return cls(
            name=name, function=fn, type="TOKEN" if typ == "TOKEN" else "REQUEST",
            identity_sources=sources,
            identity_validation_expression=ext.get("identityValidationExpression"),
            ttl=ttl, payload=payload,
            simple_responses=bool(ext.get("enableSimpleResponses", False)),
        )


@dataclass(frozen=True, slots=True)
class _Result:
    """A parsed authorizer answer, as cached."""

    principal: str | None
    policy: Mapping[str, Any] | None
    is_authorized: bool | None
    context: Mapping[str, Any]
    usage_identifier_key: str | None
    method_arn: str
    stored_at: float


class _LambdaContext:
    """The few ``context`` attributes authorizer code commonly reads."""

    def __init__(self, name: str, request_id: str, deadline: float, clock: Clock) -> None:
        self.function_name = name
        self.aws_request_id = request_id
        self.memory_limit_in_mb = 128
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{name}"
        self._deadline = deadline
        self._clock = clock

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - self._clock.monotonic()) * 1000))


def _identity_value(src: str, req: AuthRequest) -> str | None:
    m = _HTTP_SOURCE.fullmatch(src) or _REST_SOURCE.fullmatch(src)
    if m is None:
        return None
    kind, name = m.group(1), m.group(2)
    if kind.endswith("header"):
        return req.header(name)
    if kind.endswith("querystring"):
        return req.query_param(name)
    if kind == "stageVariables":
        return req.stage_variables.get(name)
    return req.context_var(name)


def _single_headers(req: AuthRequest) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in req.headers:
        out[k] = v  # the last value wins, as in API Gateway's v1 map
    return out


def _multi(pairs: tuple[tuple[str, str], ...]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in pairs:
        out.setdefault(k, []).append(v)
    return out


def _request_context_v1(req: AuthRequest) -> dict[str, Any]:
    return {
        "path": f"/{req.stage}{req.path}", "accountId": req.account_id, "resourceId": "",
        "stage": req.stage, "requestId": req.request_id, "requestTime": req.request_time(),
        "requestTimeEpoch": req.time_epoch_ms, "protocol": req.protocol,
        "identity": {"apiKey": req.header("x-api-key"), "sourceIp": req.source_ip,
                     "userAgent": req.header("user-agent"), "clientCert": None},
        "resourcePath": req.resource, "httpMethod": req.method, "apiId": req.api_id,
        "domainName": req.domain_name,
    }


def build_event(cfg: CustomAuthorizerConfig, req: AuthRequest,
                identity: list[str | None]) -> dict[str, Any]:
    """The event API Gateway would send this authorizer for ``req`` (§2.1)."""
    if cfg.type == "TOKEN":
        return {"type": "TOKEN", "authorizationToken": identity[0], "methodArn": req.method_arn}
    if cfg.payload == "2.0":
        headers: dict[str, str] = {}
        for k, v in req.headers:
            low = k.lower()
            headers[low] = f"{headers[low]},{v}" if low in headers else v
        qs: dict[str, str] = {}
        for k, v in req.query:
            qs[k] = f"{qs[k]},{v}" if k in qs else v
        cookies = [c.strip() for c in (req.header("cookie") or "").split(";") if c.strip()]
        return {
            "version": "2.0", "type": "REQUEST", "routeArn": req.method_arn,
            "identitySource": [v for v in identity if v is not None],
            "routeKey": req.effective_route_key, "rawPath": f"/{req.stage}{req.path}",
            "rawQueryString": req.raw_query, "cookies": cookies or None, "headers": headers,
            "queryStringParameters": qs or None,
            "requestContext": {
                "accountId": req.account_id, "apiId": req.api_id, "authentication": None,
                "domainName": req.domain_name, "domainPrefix": req.domain_name.split(".")[0],
                "http": {"method": req.method, "path": f"/{req.stage}{req.path}",
                         "protocol": req.protocol, "sourceIp": req.source_ip,
                         "userAgent": req.header("user-agent") or ""},
                "requestId": req.request_id, "routeKey": req.effective_route_key,
                "stage": req.stage, "time": req.request_time(), "timeEpoch": req.time_epoch_ms,
            },
            "pathParameters": dict(req.path_params) or None,
            "stageVariables": dict(req.stage_variables) or None,
        }
    event: dict[str, Any] = {
        "type": "REQUEST", "methodArn": req.method_arn, "resource": req.resource,
        "path": req.path, "httpMethod": req.method, "headers": _single_headers(req),
        "multiValueHeaders": _multi(req.headers),
        "queryStringParameters": {k: v[-1] for k, v in _multi(req.query).items()} or None,
        "multiValueQueryStringParameters": _multi(req.query) or None,
        "pathParameters": dict(req.path_params) or None,
        "stageVariables": dict(req.stage_variables) or None,
        "requestContext": _request_context_v1(req),
    }
    if cfg.payload == "1.0":
        joined = ",".join(v for v in identity if v is not None)
        event = {"version": "1.0", **event, "identitySource": joined,
                 "authorizationToken": joined}
    return event


def _cache_key(name: str, identity: list[str | None]) -> str:
    """Identity values hashed: tokens never become cache keys (or Redis keys) in clear."""
    digest = hashlib.sha256(json.dumps(identity).encode()).hexdigest()
    return f"authz:{name}:{digest}"


class _BadOutput(Exception):
    pass


def _parse(cfg: CustomAuthorizerConfig, out: Any, arn: str, now: float) -> _Result:
    if not isinstance(out, Mapping):
        raise _BadOutput(f"authorizer returned {type(out).__name__}, not an object")
    ctx = out.get("context") or {}
    if not isinstance(ctx, Mapping):
        raise _BadOutput("'context' is not an object")
    if cfg.payload == "REST":
        for k, v in ctx.items():
            if v is not None and not isinstance(v, str | int | float | bool):
                raise _BadOutput(f"context[{k!r}] is a {type(v).__name__}; REST authorizer "
                                 "context values must be string, number or boolean")
    uik = out.get("usageIdentifierKey")
    if uik is not None and not isinstance(uik, str):
        raise _BadOutput("'usageIdentifierKey' is not a string")
    if cfg.simple_responses:
        ok = out.get("isAuthorized")
        if not isinstance(ok, bool):
            raise _BadOutput("simple response without a boolean 'isAuthorized'")
        return _Result(None, None, ok, dict(ctx), uik, arn, now)
    principal = out.get("principalId")
    policy = out.get("policyDocument")
    if not isinstance(principal, str):
        raise _BadOutput("missing or non-string 'principalId'")
    if not isinstance(policy, Mapping):
        raise _BadOutput("missing 'policyDocument'")
    return _Result(principal, policy, None, dict(ctx), uik, arn, now)


def _stringify(v: Any) -> Any:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return str(v)
    return v


def authorizer_context_v1(outcome: AuthOutcome, integration_latency_ms: int = 0,
                          ) -> dict[str, Any]:
    """``requestContext.authorizer`` for REST / payload 1.0: the context with numbers and
    booleans stringified (``null`` stays ``null``), ``principalId`` and ``integrationLatency``
    (as observed on AWS, DefinitelyTyped#69823)."""
    out: dict[str, Any] = {k: _stringify(v) for k, v in outcome.context.items()}
    out["principalId"] = outcome.principal
    out["integrationLatency"] = integration_latency_ms
    return out


def authorizer_context_v2(outcome: AuthOutcome) -> dict[str, Any]:
    """``requestContext.authorizer`` for HTTP API 2.0: ``{"lambda": context}``, values as given."""
    return {"lambda": dict(outcome.context)}


@dataclass(slots=True)
class _Stats:
    invocations: int = 0
    hits: int = 0
    misses: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class CustomAuthorizer:
    """Runs one custom authorizer with its cache. ``await authorize(req)`` -> ``AuthOutcome``."""

    _executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="bastion-authorizer")

    def __init__(self, config: CustomAuthorizerConfig, clock: Clock | None = None, *,
                 storage: Storage | GuardedStorage | None = None) -> None:
        """``storage`` (``bastion.state``) shares the result cache across processes; without
        it the cache is in-process and bounded by ``config.cache_size``."""
        self.config = config
        self.clock = clock or SystemClock()
        self.storage = storage
        fn = config.function
        self._fn = load_callable(fn) if isinstance(fn, str) else fn
        self._is_async = inspect.iscoroutinefunction(self._fn)
        try:
            params = inspect.signature(self._fn).parameters.values()
            kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                     inspect.Parameter.VAR_POSITIONAL)
            positional = [p for p in params if p.kind in kinds]
            self._two_args = len(positional) >= 2 or any(
                p.kind == p.VAR_POSITIONAL for p in positional)
        except (TypeError, ValueError):
            self._two_args = True
        self._cache: OrderedDict[str, _Result] = OrderedDict()
        self._warned: OrderedDict[tuple[str, str], None] = OrderedDict()
        self.stats = _Stats()

    def _warn_once(self, cached: str, current: str, explain: str) -> None:
        """Log each (cached, request) methodArn pair once (bounded), not every request."""
        pair = (cached, current)
        if pair in self._warned:
            return
        self._warned[pair] = None
        if len(self._warned) > 1024:
            self._warned.popitem(last=False)
        _log.warning("authorizer %s: %s", self.config.name, explain)

    def flush(self) -> None:
        """``FlushStageAuthorizersCache`` (in-process cache; a shared store expires by TTL)."""
        self._cache.clear()

    def _now(self) -> float:
        # a shared cache is read by other processes: wall time; in-process: monotonic
        return self.clock.time() if self.storage is not None else self.clock.monotonic()

    async def _cache_get(self, key: str, tr: Tracer) -> _Result | None:
        if self.storage is None:
            res = self._cache.get(key)
            if res is None:
                return None
            if self._now() - res.stored_at >= self.config.ttl:
                del self._cache[key]
                tr.add("cache.expired", age=round(self._now() - res.stored_at, 3))
                return None
            self._cache.move_to_end(key)
            return res
        if isinstance(self.storage, GuardedStorage):
            read = await self.storage.get(Feature.AUTHORIZER_CACHE, key)
            if read.degraded:
                tr.add("cache.degraded", note="state backend unavailable; invoking authorizer")
            raw = read.value
        else:
            raw = await self.storage.get(key)
        if raw is None:
            return None
        try:
            d = json.loads(raw)
            return _Result(d["principal"], d["policy"], d["is_authorized"], d["context"],
                           d["uik"], d["method_arn"], float(d["stored_at"]))
        except (ValueError, KeyError, TypeError):
            return None

    async def _cache_put(self, key: str, res: _Result) -> None:
        if self.storage is None:
            self._cache[key] = res
            while len(self._cache) > self.config.cache_size:
                self._cache.popitem(last=False)
            return
        try:
            raw = json.dumps({"principal": res.principal, "policy": res.policy,
                              "is_authorized": res.is_authorized, "context": res.context,
                              "uik": res.usage_identifier_key, "method_arn": res.method_arn,
                              "stored_at": res.stored_at}).encode()
        except (TypeError, ValueError):
            return  # not JSON-representable: simply not shared
        if isinstance(self.storage, GuardedStorage):
            await self.storage.set(Feature.AUTHORIZER_CACHE, key, raw, self.config.ttl)
        else:
            await self.storage.set(key, raw, self.config.ttl)

    def _caching(self) -> bool:
        return self.config.ttl > 0

    async def authorize(self, req: AuthRequest) -> AuthOutcome:
        tr = Tracer(f"auth.{self.config.name}")
        outcome = await self._authorize(req, tr)
        tr.add("decision", allow=outcome.ok, status=outcome.status, code=outcome.reason_code,
               reason=outcome.reason)
        return outcome.with_trace(tr.events)

    async def _authorize(self, req: AuthRequest, tr: Tracer) -> AuthOutcome:
        cfg = self.config
        arn = req.method_arn
        identity = [_identity_value(s, req) for s in cfg.identity_sources]
        tr.add("authorizer.run", type=cfg.type, payload=cfg.payload, method_arn=arn,
               identity=[mask(v) for v in identity], ttl=cfg.ttl)
        if cfg.type == "TOKEN":
            token = identity[0]
            if not token:
                return unauthorized("identity_missing",
                                    f"{cfg.identity_sources[0]} is missing or empty; "
                                    "the authorizer was not invoked")
            rx = cfg.identity_validation_expression
            if rx is not None and re.fullmatch(rx, token) is None:
                return unauthorized("identity_invalid",
                                    "the token does not match identityValidationExpression; "
                                    "the authorizer was not invoked")
        elif (self._caching() or cfg.payload != "REST") and any(not v for v in identity):
            missing = [s for s, v in zip(cfg.identity_sources, identity, strict=True) if not v]
            return unauthorized("identity_missing",
                                f"identity source(s) {missing} missing or empty; "
                                "the authorizer was not invoked")
        key = _cache_key(f"{req.api_id}/{req.stage}/{cfg.name}", identity)
        cached = await self._cache_get(key, tr) if self._caching() else None
        if cached is not None:
            self.stats.hits += 1
            tr.add("cache.hit", cached_method_arn=cached.method_arn, request_method_arn=arn,
                   age=round(self._now() - cached.stored_at, 3))
            return self._decide(cached, req, tr, from_cache=True)
        if self._caching():
            self.stats.misses += 1
            tr.add("cache.miss")
        event = build_event(cfg, req, identity)
        result_or_error = await self._invoke(event, req, tr)
        if isinstance(result_or_error, AuthOutcome):
            return result_or_error
        try:
            result = _parse(cfg, result_or_error, arn, self._now())
        except _BadOutput as e:
            return authorizer_error("malformed_output", f"Could not parse authorizer output: {e}")
        if self._caching():
            await self._cache_put(key, result)
        return self._decide(result, req, tr, from_cache=False)

    async def _invoke(self, event: dict[str, Any], req: AuthRequest,
                      tr: Tracer) -> Any:
        cfg = self.config
        ctx = _LambdaContext(cfg.name, req.request_id, self.clock.monotonic() + cfg.timeout,
                             self.clock)
        args: tuple[Any, ...] = (event, ctx) if self._two_args else (event,)
        self.stats.invocations += 1
        tr.add("authorizer.invoke", event_type=event.get("type"))
        try:
            if self._is_async:
                return await asyncio.wait_for(self._fn(*args), cfg.timeout)
            loop = asyncio.get_running_loop()
            fut = loop.run_in_executor(self._executor, lambda: self._fn(*args))
            return await asyncio.wait_for(fut, cfg.timeout)
        except TimeoutError:
            return authorizer_error("timeout", f"authorizer did not answer within {cfg.timeout}s")
        except Exception as e:  # any authorizer failure is a value
            # API Gateway looks only at the Lambda errorMessage, which is str(exception)
            if str(e) == "Unauthorized":
                return unauthorized("authorizer_unauthorized",
                                    f"the authorizer raised {type(e).__name__}('Unauthorized')")
            return authorizer_error("authorizer_error",
                                    f"the authorizer raised {type(e).__name__} whose message is "
                                    "not exactly 'Unauthorized', so AWS answers 500")

    def _decide(self, res: _Result, req: AuthRequest, tr: Tracer, *,
                from_cache: bool) -> AuthOutcome:
        cfg = self.config
        arn = req.method_arn
        common: dict[str, Any] = {"principal": res.principal, "context": res.context,
                                  "usage_identifier_key": res.usage_identifier_key}
        if res.is_authorized is not None:
            tr.add("simple_response", is_authorized=res.is_authorized)
            if res.is_authorized:
                return allowed(**common)
            return forbidden("simple_response_denied", "the authorizer answered isAuthorized=false",
                             response_type="ACCESS_DENIED")
        assert res.policy is not None
        try:
            ctx = iam.RequestContext.for_request(
                now=self.clock.time(), source_ip=req.source_ip,
                user_agent=req.header("user-agent"), referer=req.header("referer"))
            verdict = evaluate(res.policy, "execute-api:Invoke", arn, ctx)
        except PolicyError as e:
            return authorizer_error("malformed_policy", f"Could not parse policy: {e}")
        tr.add("policy.evaluated", decision=verdict.decision.value, statement=verdict.statement,
               sid=verdict.sid, method_arn=arn, policy_from=res.method_arn,
               **({"note": verdict.note} if verdict.note else {}))
        where = (f"Statement[{verdict.statement}]" + (f" ({verdict.sid})" if verdict.sid else "")
                 if verdict.statement is not None else "")
        if verdict.decision is Decision.ALLOW:
            return allowed(**common)
        pitfall = from_cache and res.method_arn != arn
        if pitfall:
            explain = (f"cached policy built for {res.method_arn} was applied to {arn} "
                       f"(authorizer caching is keyed on identity sources only, TTL {cfg.ttl}s); "
                       "return a policy that covers every method of the API, or set the TTL to 0")
            tr.add("cache.pitfall", cached_method_arn=res.method_arn, request_method_arn=arn,
                   explanation=explain)
            self._warn_once(res.method_arn, arn, explain)
        if verdict.decision is Decision.EXPLICIT_DENY:
            reason = f"policy {where} explicitly denies execute-api:Invoke on {arn}"
            if pitfall:
                reason += "; " + explain
            return explicit_deny("explicit_deny", reason)
        reason = f"no statement of the policy allows execute-api:Invoke on {arn}"
        if pitfall:
            reason += "; " + explain
        return access_denied("cached_policy_mismatch" if pitfall else "implicit_deny", reason)
