"""``bastion.yaml``: what AWS keeps in its consoles, compiled once into frozen models.

Example::

    api:
      openapi: petstore.yaml        # relative to this file
      kind: rest                    # rest (Lambda event v1.0) | http (v2.0)
      stage: prod
      region: us-east-1
      account_id: "123456789012"
      api_id: petstore
    server: {host: 127.0.0.1, port: 8080, workers: 1}
    limits: {max_body_bytes: 10485760, handler_timeout_ms: 29000}
    functions:                      # Lambda ARNs in the OpenAPI -> Python handlers
      GetPet: {handler: "petstore.handlers:get_pet", timeout_ms: 3000}
    state: memory://
    log_dir: ./bastion-data
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bastion.config.reader import Problems, Section
from bastion.config.source import load_document

__all__ = [
    "ApiSettings",
    "FunctionSettings",
    "LimitSettings",
    "ServerSettings",
    "Settings",
    "UpstreamSettings",
    "load_settings",
    "settings_from_data",
]

_HANDLER = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_ACCOUNT = re.compile(r"^\d{12}$")


def _handler_ref(value: str) -> str | None:
    return None if _HANDLER.match(value) else "must look like 'package.module:function'"


def _positive(value: int | float) -> str | None:
    return None if value > 0 else "must be greater than 0"


@dataclass(frozen=True, slots=True)
class ApiSettings:
    openapi: Path | None
    kind: str = "rest"
    stage: str = "prod"
    region: str = "us-east-1"
    account_id: str = "123456789012"
    api_id: str = "bastion"
    stage_variables: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    graceful_timeout_s: float = 10.0
    trust_forwarded_for: bool = False
    # a client must send a whole request, and keep reading an answer, within this: a slower
    # request is answered 408, a client that stops reading is dropped
    client_timeout_s: float = 30.0


@dataclass(frozen=True, slots=True)
class LimitSettings:
    max_body_bytes: int = 10 * 1024 * 1024  # API Gateway's payload limit
    max_headers: int = 100
    max_header_bytes: int = 16 * 1024
    handler_timeout_ms: int = 29_000  # API Gateway's default integration timeout


@dataclass(frozen=True, slots=True)
class UpstreamSettings:
    connect_timeout_ms: int = 5_000
    read_timeout_ms: int = 29_000
    pool_size: int = 64
    rewrite_host: bool = False


@dataclass(frozen=True, slots=True)
class FunctionSettings:
    name: str
    handler: str
    timeout_ms: int | None = None
    environment: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Settings:
    source: Path | None
    api: ApiSettings
    server: ServerSettings = ServerSettings()
    limits: LimitSettings = LimitSettings()
    upstream: UpstreamSettings = UpstreamSettings()
    functions: dict[str, FunctionSettings] = field(default_factory=dict)
    state: str = "memory://"
    log_dir: Path = Path("bastion-data")
    gateway_responses: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # sections owned by other layers

    @property
    def base_dir(self) -> Path:
        return self.source.parent if self.source else Path.cwd()


# Sections later layers own; their loaders validate them.
LAYER_SECTIONS = ("state_policy", "waf", "webacl", "auth", "credentials", "logging", "metrics",
                  "audit", "edge", "cache", "throttle", "usage_plans", "api_keys", "cedar",
                  "alarms", "tls")


def load_settings(path: Path) -> Settings:
    """Load and validate ``bastion.yaml``; raises ConfigError(s) naming file, line and key."""
    return settings_from_data(load_document(path), path)


def settings_from_data(data: Any, path: Path | None) -> Settings:
    name = str(path) if path else "<config>"
    base = path.parent if path else Path.cwd()
    problems = Problems()
    root = Section(data, file=name, path="", problems=problems)

    api_s = root.section("api")
    openapi = api_s.get("openapi", str, "")
    openapi_path: Path | None = None
    if openapi:
        openapi_path = (base / openapi).resolve()
        if not openapi_path.is_file():
            api_s.error(f"file not found: {openapi_path}", "openapi")
    else:
        api_s.error("is required", "openapi", line=api_s.anchor or api_s.line())
    stage_vars = api_s.get("stage_variables", dict, {})
    for k, v in stage_vars.items():
        if not isinstance(v, str):
            api_s.error(f"value of {k!r} must be a string", "stage_variables")
    account = api_s.get("account_id", str, "123456789012",
                        check=lambda v: None if _ACCOUNT.match(v) else "must be 12 digits")
    api = ApiSettings(
        openapi=openapi_path,
        kind=api_s.get("kind", str, "rest", choices=("rest", "http")),
        stage=api_s.get("stage", str, "prod",
                        check=lambda v: None if re.match(r"^(\$default|[\w-]+)$", v)
                        else "must be letters, digits, '-' or '_' (or $default)"),
        region=api_s.get("region", str, "us-east-1"),
        account_id=account,
        api_id=api_s.get("api_id", str, "bastion"),
        stage_variables=dict(stage_vars),
    )
    api_s.done()

    srv = root.section("server")
    server = ServerSettings(
        host=srv.get("host", str, "127.0.0.1"),
        port=srv.get("port", int, 8080,
                     check=lambda v: None if 0 <= v <= 65535 else "must be 0-65535"),
        workers=srv.get("workers", int, 1, check=_positive),
        graceful_timeout_s=srv.get("graceful_timeout_s", float, 10.0, check=_positive),
        trust_forwarded_for=srv.get("trust_forwarded_for", bool, False),
        client_timeout_s=srv.get("client_timeout_s", float, 30.0, check=_positive),
    )
    srv.done()

    lim = root.section("limits")
    dflt = LimitSettings()
    limits = LimitSettings(
        max_body_bytes=lim.get("max_body_bytes", int, dflt.max_body_bytes, check=_positive),
        max_headers=lim.get("max_headers", int, dflt.max_headers, check=_positive),
        max_header_bytes=lim.get("max_header_bytes", int, dflt.max_header_bytes,
                                 check=_positive),
        handler_timeout_ms=lim.get("handler_timeout_ms", int, dflt.handler_timeout_ms,
                                   check=_positive),
    )
    lim.done()

    up = root.section("upstream")
    upstream = UpstreamSettings(
        connect_timeout_ms=up.get("connect_timeout_ms", int, 5000, check=_positive),
        read_timeout_ms=up.get("read_timeout_ms", int, 29000, check=_positive),
        pool_size=up.get("pool_size", int, 64, check=_positive),
        rewrite_host=up.get("rewrite_host", bool, False),
    )
    up.done()

    functions: dict[str, FunctionSettings] = {}
    fns = root.section("functions")
    for fname in list(fns.data):
        fs = fns.section(fname)
        env = fs.get("environment", dict, {})
        functions[fname] = FunctionSettings(
            name=fname,
            handler=fs.require("handler", str, "", check=_handler_ref),
            timeout_ms=fs.get("timeout_ms", int, 0, check=_positive) or None,
            environment={str(k): str(v) for k, v in env.items()},
        )
        fs.done()
    fns.done()

    state = root.get("state", str, "memory://",
                     check=lambda v: None if v.split("://", 1)[0] in ("memory", "redis", "rediss")
                     else "must be memory:// or redis://host:port/db")
    log_dir = root.get("log_dir", str, "bastion-data")
    responses = root.get("gateway_responses", dict, {})
    extra = {k: root.raw(k) for k in LAYER_SECTIONS if root.has(k)}
    root.done()
    problems.raise_if_any()
    return Settings(
        source=path.resolve() if path else None,
        api=api,
        server=server,
        limits=limits,
        upstream=upstream,
        functions=functions,
        state=state,
        log_dir=(base / log_dir),
        gateway_responses=dict(responses),
        extra=extra,
    )
