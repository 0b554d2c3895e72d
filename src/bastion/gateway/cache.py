"""The stage response cache, as API Gateway's: per-method, keyed by declared parameters.

Only methods with caching on are cached (GET by default when ``cache.enabled``). The key is
the stage, method and resource path plus the values of the declared cache-key parameters
(``method.request.querystring.X``, ``.header.X``, ``.path.X``; also read from
``cacheKeyParameters`` in the integration), and the caller's principal when
``per_principal`` is set. As on AWS, a parameterised resource whose parameters are not
declared shares one entry: Bastion warns about it at load.

A client asks for a fresh answer with ``Cache-Control: max-age=0``; when
``require_authorization`` is on (the default) the caller needs ``execute-api:InvalidateCache``
on the method's ARN, else ``unauthorized_handling`` applies (FAIL_WITH_403,
SUCCEED_WITH_RESPONSE_HEADER, SUCCEED_WITHOUT_RESPONSE_HEADER).

    cache:
      enabled: true
      ttl: 300                    # seconds, max 3600, 0 disables
      max_entry_bytes: 1048576
      require_authorization: true
      unauthorized_handling: SUCCEED_WITH_RESPONSE_HEADER
      methods:
        "/pets/{petId}/GET": {ttl: 60, key_parameters: [method.request.path.petId]}
        "/pets/POST": {enabled: false}
"""

from __future__ import annotations

import base64
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import orjson

from bastion.config import Problems, Section
from bastion.gateway.api import Route
from bastion.gateway.gateway import GatewayContext
from bastion.pipeline import Exchange, Interruption, Phase, Response, Stage
from bastion.state import Feature, GuardedStorage

__all__ = ["CacheLookup", "CachePolicy", "CacheStore", "cache_layer"]

log = logging.getLogger("bastion.cache")

MAX_TTL = 3600
_HANDLING = ("FAIL_WITH_403", "SUCCEED_WITH_RESPONSE_HEADER", "SUCCEED_WITHOUT_RESPONSE_HEADER")
_PARAM_PREFIX = "method.request."


@dataclass(frozen=True, slots=True)
class CachePolicy:
    ttl: int
    key_parameters: tuple[str, ...]
    per_principal: bool


def _param(ex: Exchange, ref: str) -> str:
    where, _, name = ref[len(_PARAM_PREFIX):].partition(".")
    if where == "header":
        return ex.request.headers.get(name) or ""
    if where == "querystring":
        return "\x1f".join(v for k, v in ex.request.query_params if k == name)
    if where == "path":
        return ex.route.path_params.get(name, "") if ex.route else ""
    return ""


def _key(ex: Exchange, policy: CachePolicy, prefix: str) -> str:
    assert ex.route is not None
    parts = [ex.request.method, ex.route.resource_path]
    parts += [f"{p}={_param(ex, p)}" for p in policy.key_parameters]
    if policy.per_principal:
        parts.append(f"principal={ex.principal or ''}")
    digest = hashlib.sha256("\x1e".join(parts).encode("utf-8", "surrogateescape")).hexdigest()
    return f"{prefix}:{digest}"


def _encode(response: Response) -> bytes:
    return orjson.dumps({"s": response.status, "h": response.headers,
                         "b": base64.b64encode(response.body).decode()})


def _decode(raw: bytes) -> Response | None:
    try:
        d = orjson.loads(raw)
        return Response(int(d["s"]), [(str(k), str(v)) for k, v in d["h"]],
                        base64.b64decode(d["b"]))
    except (ValueError, KeyError, TypeError):
        return None


class CacheLookup:
    """CACHE phase: answer from the cache, or remember the key for the RESPONSE phase."""

    name = "cache"
    phase = Phase.CACHE
    priority = 0

    def __init__(self, storage: GuardedStorage, policies: dict[str, CachePolicy], prefix: str,
                 require_authorization: bool, handling: str,
                 can_invalidate: Any) -> None:
        self.storage = storage
        self.policies = policies
        self.prefix = prefix
        self.require_authorization = require_authorization
        self.handling = handling
        self.can_invalidate = can_invalidate

    async def run(self, ex: Exchange) -> Interruption | None:
        assert ex.route is not None
        policy = self.policies.get(f"{ex.route.resource_path}/{ex.request.method}")
        if policy is None:
            return None
        key = _key(ex, policy, self.prefix)
        cc = (ex.request.headers.get("cache-control") or "").replace(" ", "").lower()
        if "max-age=0" in cc.split(","):
            allowed = not self.require_authorization or self.can_invalidate(ex)
            if allowed:
                ex.notes["cache"] = "invalidated"
                ex.notes["cache_store"] = (key, policy.ttl)
                return None
            if self.handling == "FAIL_WITH_403":
                return Interruption("ACCESS_DENIED", status=403, source=self.name,
                                    message_key="Message",
                                    message="User is not authorized to invalidate the cache",
                                    reason="Cache-Control: max-age=0 without "
                                           "execute-api:InvalidateCache")
            if self.handling == "SUCCEED_WITH_RESPONSE_HEADER":
                ex.notes["cache_warning"] = True
        read = await self.storage.get(Feature.RESPONSE_CACHE, key)
        if read.value is not None:
            cached = _decode(read.value)
            if cached is not None:
                ex.notes["cache"] = "hit"
                cached.headers.append(("X-Cache", "Hit from bastion"))
                if ex.notes.get("cache_warning"):
                    cached.headers.append(("Warning", '199 - "cache invalidation ignored: '
                                                      'not authorized"'))
                ex.response = cached
                return None
        ex.notes["cache"] = "miss"
        ex.notes["cache_store"] = (key, policy.ttl)
        return None


class CacheStore:
    """RESPONSE phase: keep successful, complete, small responses."""

    name = "cache-store"
    phase = Phase.RESPONSE
    priority = 10

    def __init__(self, storage: GuardedStorage, max_entry_bytes: int) -> None:
        self.storage = storage
        self.max_entry_bytes = max_entry_bytes

    async def run(self, ex: Exchange) -> None:
        target = ex.notes.pop("cache_store", None)
        response = ex.response
        if target is None or response is None or ex.notes.get("cache") == "hit":
            return
        if not 200 <= response.status < 300 or response.stream is not None:
            return
        if len(response.body) > self.max_entry_bytes:
            return
        key, ttl = target
        await self.storage.set(Feature.RESPONSE_CACHE, key, _encode(response), ttl)


def _policies(ctx: GatewayContext, sec: Section, enabled: bool, ttl: int,
              per_principal: bool) -> dict[str, CachePolicy]:
    out: dict[str, CachePolicy] = {}
    overrides = sec.section("methods")
    routes: dict[str, Route] = {f"{r.template}/{r.method}": r for r in ctx.api.routes}
    for key in list(overrides.data):
        if key not in routes:
            overrides.error("no such route (use '/resource/path/METHOD' from the OpenAPI)", key)
    for key, route in routes.items():
        declared = tuple(str(p) for p in (route.operation.integration or {}).get(
            "cacheKeyParameters", ()) or ())
        m_enabled, m_ttl, m_keys, m_pp = enabled and route.method == "GET", ttl, declared, \
            per_principal
        if overrides.has(key):
            ms = overrides.section(key)
            m_enabled = ms.get("enabled", bool, True)
            m_ttl = ms.get("ttl", int, ttl, check=lambda v: None if 0 <= v <= MAX_TTL
                           else f"must be 0-{MAX_TTL} seconds")
            keys = ms.get("key_parameters", list, list(declared))
            for k in keys:
                if not isinstance(k, str) or not k.startswith(_PARAM_PREFIX):
                    ms.error(f"{k!r} must look like method.request.querystring.NAME",
                             "key_parameters")
            m_keys = tuple(str(k) for k in keys)
            m_pp = ms.get("per_principal", bool, per_principal)
            ms.done()
        if not m_enabled or m_ttl == 0:
            continue
        if "{" in route.template and not any(".path." in k for k in m_keys):
            log.warning("cache: %s %s is parameterised but no path parameter is a cache key: "
                        "every %s shares one cache entry (as on API Gateway)",
                        route.method, route.template, route.template)
        if route.auth_type != "NONE" and not m_pp:
            log.warning("cache: %s %s is authorised but not cached per principal: one "
                        "caller's response may be served to another", route.method,
                        route.template)
        out[key] = CachePolicy(m_ttl, m_keys, m_pp)
    overrides.done()
    return out


def cache_layer(ctx: GatewayContext) -> list[Stage]:
    data = ctx.settings.extra.get("cache")
    if data is None:
        return []
    problems = Problems()
    sec = Section(data, file=str(ctx.settings.source), path="cache", problems=problems)
    enabled = sec.get("enabled", bool, True)
    ttl = sec.get("ttl", int, 300, check=lambda v: None if 0 <= v <= MAX_TTL
                  else f"must be 0-{MAX_TTL} seconds")
    max_entry = sec.get("max_entry_bytes", int, 1_048_576,
                        check=lambda v: None if v > 0 else "must be > 0")
    require = sec.get("require_authorization", bool, True)
    handling = sec.get("unauthorized_handling", str, "SUCCEED_WITH_RESPONSE_HEADER",
                       choices=_HANDLING)
    per_principal = sec.get("per_principal", bool, False)
    policies = _policies(ctx, sec, enabled, ttl, per_principal)
    sec.done()
    problems.raise_if_any()
    if not policies:
        return []
    api = ctx.settings.api
    prefix = f"cache:{api.api_id}:{api.stage}"

    def can_invalidate(ex: Exchange) -> bool:
        checker = ctx.resources.get("invalidate_cache_check")
        return bool(checker(ex)) if checker is not None else False

    return [CacheLookup(ctx.storage, policies, prefix, require, handling, can_invalidate),
            CacheStore(ctx.storage, max_entry)]
