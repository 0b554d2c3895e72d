"""The edge layer: ``edge:`` (this instance forwards to a protected origin) and ``credentials:``
(this instance issues short-lived credentials to its edges). Either, both or neither."""

from __future__ import annotations

from typing import Any

from bastion.auth.credentials import CredentialStore
from bastion.edge.forward import EdgeForwardStage
from bastion.edge.provider import AssumeRoleProvider, CredentialSource, StaticCredentials
from bastion.edge.settings import EdgeSettings
from bastion.edge.sts import AssumeRoleStage, StsSettings
from bastion.edge.sts_client import AssumeRoleClient
from bastion.errors import ConfigError
from bastion.gateway.gateway import GatewayContext
from bastion.gateway.integrations.http_proxy import HttpProxy
from bastion.http.upstream import Origin, UpstreamPool
from bastion.pipeline import Stage

__all__ = ["edge_layer", "find_credential_store"]


def find_credential_store(ctx: GatewayContext) -> CredentialStore | None:
    """The ``CredentialStore`` the AWS_IAM stage verifies with: sessions must be issued into
    that very store for the gateway to accept them."""
    store = ctx.resources.get("credential_store")
    return store if isinstance(store, CredentialStore) else None


def _sts_stage(ctx: GatewayContext, data: Any) -> Stage:
    file = str(ctx.settings.source)
    settings = StsSettings.parse(data, file=file, base=ctx.settings.base_dir)
    store = find_credential_store(ctx)
    if store is None:
        raise ConfigError("the credential endpoint issues sessions the AWS_IAM stage verifies: "
                          "set auth.credentials and use AWS_IAM on at least one route",
                          file=file, key="credentials")
    known = _role_names(store)
    problems = [r for r in settings.roles if known is not None and r not in known]
    if problems:
        raise ConfigError(f"no role named {problems[0]!r} in auth.credentials", file=file,
                          key="credentials.roles")
    return AssumeRoleStage(ctx, settings, store)


def _role_names(store: CredentialStore) -> set[str] | None:
    """The roles in the store's current snapshot (None if the store does not say)."""
    roles = getattr(getattr(store, "_snapshot", None), "roles", None)
    return set(roles) if roles is not None else None


def _edge_stage(ctx: GatewayContext, data: Any) -> Stage:
    settings = EdgeSettings.parse(data, file=str(ctx.settings.source),
                                  base=ctx.settings.base_dir, region=ctx.settings.api.region)
    tls = settings.tls.context() if settings.tls is not None and not ctx.dry_run else None
    pools: dict[Origin, UpstreamPool] = {}
    if tls is not None:  # our own pools: the integrations' use the default TLS context
        up = ctx.settings.upstream
        for origin in {r.integration.origin for r in ctx.api.routes
                       if isinstance(r.integration, HttpProxy)}:
            if origin.tls:
                pools[origin] = UpstreamPool(
                    origin, size=up.pool_size, connect_timeout=up.connect_timeout_ms / 1000,
                    read_timeout=up.read_timeout_ms / 1000, ssl_context=tls)
    source: CredentialSource | None = None
    creds = settings.credentials
    if creds is not None and creds.endpoint is not None:
        pool = UpstreamPool(creds.endpoint, size=2, ssl_context=tls if creds.endpoint.tls
                            else None)
        client = AssumeRoleClient(pool, creds.path, host=creds.endpoint.authority,
                                  role=creds.role, session_name=creds.session_name,
                                  duration=creds.duration_s, token=creds.token, clock=ctx.clock)
        provider = AssumeRoleProvider(client, ctx.clock, refresh_at=creds.refresh_at,
                                      max_age=creds.max_age_s)
        ctx.resources["edge_credentials"] = provider
        ctx.resources.setdefault("background", []).append(provider.run)
        ctx.closers.append(pool.close)
        source = provider
    elif creds is not None and creds.static_access_key and creds.static_secret:
        from bastion.auth.sigv4 import Credentials

        source = StaticCredentials(Credentials(creds.static_access_key, creds.static_secret))
    for p in pools.values():
        ctx.closers.append(p.close)
    stage = EdgeForwardStage(settings, source, ctx.clock, pools)
    ctx.resources["edge_forwarder"] = stage
    return stage


def edge_layer(ctx: GatewayContext) -> list[Stage]:
    """Stages for ``credentials:`` (the endpoint) and ``edge:`` (signing forwarder)."""
    stages: list[Stage] = []
    extra = ctx.settings.extra
    if "credentials" in extra:
        stages.append(_sts_stage(ctx, extra["credentials"]))
    if "edge" in extra:
        stages.append(_edge_stage(ctx, extra["edge"]))
    return stages
