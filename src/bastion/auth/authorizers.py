"""The authorizer stages: JWT/Cognito, custom (Lambda-style) authorizers, Cedar, API keys.

Routes name their authorizer through the OpenAPI security requirement; the scheme's
``x-amazon-apigateway-authorizer`` says which kind. Per-authorizer settings that AWS keeps
outside the OpenAPI (where to read a JWKS offline, algorithms, leeway) go under
``auth.authorizers.<scheme name>`` in bastion.yaml::

    auth:
      authorizers:
        CognitoPool: {jwks_file: jwks.json, algorithms: [RS256], leeway: 30}
      cedar:
        policies: [pets.cedar]
        schema: pets.cedarschema.json
        entities: entities.json
        namespace: PetStore
        resources: {"/pets/{petId}": [Pet, petId]}
    api_keys:
      store: bastion-keys.json      # managed with `bastion keys ...`
      usage_plans: plans.json       # AWS CreateUsagePlan JSON (a list)
      source: HEADER                # or AUTHORIZER (the custom authorizer's usageIdentifierKey)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bastion.auth.apikeys import ApiKeyStore, UsagePlan, UsagePlanEnforcer, presented_key
from bastion.auth.custom import (
    CustomAuthorizer,
    CustomAuthorizerConfig,
    authorizer_context_v1,
    authorizer_context_v2,
)
from bastion.auth.iam import access_denied_body
from bastion.auth.iam.decision import Decision
from bastion.auth.jwks import JwksCache
from bastion.auth.jwt import JwtAuthorizer, claims_v1, config_from_openapi, jwt_context_v2
from bastion.auth.outcome import AuthOutcome
from bastion.auth.request import AuthRequest
from bastion.auth.stage import AuthSettings, method_arn
from bastion.config import Problems, Section, load_document
from bastion.errors import ConfigError
from bastion.gateway.api import Route
from bastion.gateway.gateway import GatewayContext
from bastion.pipeline import Exchange, Interruption, Phase, Stage

__all__ = ["ApiKeyStage", "AuthorizerStage", "CedarStage", "authorizers_layer"]


def _auth_request(ctx: GatewayContext, ex: Exchange) -> AuthRequest:
    api = ctx.settings.api
    return AuthRequest.from_exchange(ex, api_id=api.api_id, account_id=api.account_id,
                                     region=api.region, stage_variables=api.stage_variables)


class AuthorizerStage:
    """AUTHORIZE phase: runs the route's JWT/Cognito or custom authorizer."""

    name = "authorizer"
    phase = Phase.AUTHORIZE
    priority = 50

    def __init__(self, ctx: GatewayContext, jwt: dict[str, JwtAuthorizer],
                 custom: dict[str, CustomAuthorizer], settings: AuthSettings) -> None:
        self.ctx = ctx
        self.jwt = jwt
        self.custom = custom
        self.settings = settings
        self.http_api = ctx.settings.api.kind == "http"

    async def run(self, ex: Exchange) -> Interruption | None:
        assert ex.route is not None
        route: Route = ex.route.route
        name = route.authorizer
        if name is None or route.auth_type in ("NONE", "AWS_IAM"):
            return None
        if name in self.jwt:
            return self._after_jwt(ex, route, await self._jwt(ex, route, name))
        outcome = await self.custom[name].authorize(_auth_request(self.ctx, ex))
        ex.trace.extend(outcome.trace)
        rp: Decision | None = ex.notes.get("resource_policy_decision")
        if not outcome.ok:
            # Table A: an authorizer that neither allows nor denies is overridden by a
            # resource policy that explicitly allows (same account).
            if not (outcome.reason_code == "implicit_deny" and rp is not None and rp.allowed):
                return outcome.to_interruption(self.name)
        ex.principal = outcome.principal
        ex.authorizer = (authorizer_context_v2(outcome) if self.http_api
                         else authorizer_context_v1(outcome))
        ex.notes["authorizer_outcome"] = outcome
        return None

    async def _jwt(self, ex: Exchange, route: Route, name: str) -> AuthOutcome:
        authz = self.jwt[name]
        token = ex.request.headers.get(authz.config.identity_header)
        outcome = await authz.authorize_async(token, route.scopes)
        ex.trace.extend(outcome.trace)
        return outcome

    def _after_jwt(self, ex: Exchange, route: Route, outcome: AuthOutcome) -> Interruption | None:
        if not outcome.ok:
            return outcome.to_interruption(self.name)
        rp: Decision | None = ex.notes.get("resource_policy_decision")
        if rp is not None and not rp.allowed and self.settings.cognito_requires_explicit_allow:
            arn = method_arn(self.ctx, ex)
            body = access_denied_body(rp, None, "execute-api:Invoke", arn,
                                      mask_account=self.settings.mask_account_id)
            key, message = next(iter(body.items()))
            return Interruption("ACCESS_DENIED", message=message, status=403,
                                error_type="AccessDeniedException", message_key=key,
                                source=self.name, reason="resource policy does not allow")
        ex.principal = outcome.principal
        ex.authorizer = (jwt_context_v2(outcome.claims, outcome.scopes) if self.http_api
                         else claims_v1(outcome.claims))
        ex.notes["authorizer_outcome"] = outcome
        return None


class CedarStage:
    """AUTHORIZE phase, last: Verified-Permissions-style Cedar policies after authentication."""

    name = "cedar"
    phase = Phase.AUTHORIZE
    priority = 10

    def __init__(self, ctx: GatewayContext, authorizer: Any) -> None:
        self.ctx = ctx
        self.authorizer = authorizer

    def run(self, ex: Exchange) -> Interruption | None:
        outcome: AuthOutcome | None = ex.notes.get("authorizer_outcome")
        claims = outcome.claims if outcome is not None else None
        sigv4_arn = ex.principal if claims is None else None
        result: AuthOutcome = self.authorizer.authorize(_auth_request(self.ctx, ex),
                                                        claims=claims, sigv4_arn=sigv4_arn)
        ex.trace.extend(result.trace)
        return None if result.ok else result.to_interruption(self.name)


class ApiKeyStage:
    """USAGE phase, before throttling: API key + usage plan (throttle, quota)."""

    name = "api-key"
    phase = Phase.USAGE
    priority = 200

    def __init__(self, ctx: GatewayContext, enforcer: UsagePlanEnforcer, source: str) -> None:
        self.ctx = ctx
        self.enforcer = enforcer
        self.source = source

    async def run(self, ex: Exchange) -> Interruption | None:
        assert ex.route is not None
        route: Route = ex.route.route
        if not route.api_key_required:
            return None
        key = presented_key(self.source, header=ex.request.headers.get("x-api-key"),
                            authorizer=ex.notes.get("authorizer_outcome"))
        api = self.ctx.settings.api
        outcome = await self.enforcer.check(key, api_id=api.api_id, stage=api.stage,
                                            resource_path=ex.route.resource_path,
                                            method=ex.request.method)
        ex.trace.extend(outcome.trace)
        if not outcome.ok:
            return outcome.to_interruption(self.name)
        ex.api_key_id = outcome.principal
        ex.identity["apiKey"] = key
        ex.identity["apiKeyId"] = outcome.principal
        return None


def _jwt_authorizers(ctx: GatewayContext, names: set[str], settings: AuthSettings,
                     sec: Section) -> dict[str, JwtAuthorizer]:
    out: dict[str, JwtAuthorizer] = {}
    schemes = ctx.api.definition.security_schemes
    for name in sorted(names):
        extra = sec.section(name) if sec.has(name) else None
        algorithms = tuple(extra.get("algorithms", list, ["RS256"])) if extra else ("RS256",)
        leeway = extra.get("leeway", float, 0.0) if extra else 0.0
        try:
            config = config_from_openapi(name, schemes[name], algorithms=algorithms,
                                         leeway=leeway)
        except ValueError as exc:
            raise ConfigError(str(exc), file=str(ctx.api.definition.source),
                              key=f"components.securitySchemes.{name}") from None
        jwks_file = extra.get("jwks_file", str, "") if extra else ""
        jwks_url = extra.get("jwks_url", str, "") if extra else ""
        refresh = extra.get("min_refresh_s", float, 60.0, check=lambda v: None if v >= 0
                            else "must be >= 0") if extra else 60.0
        if extra:
            extra.done()
        opts: dict[str, Any] = {"clock": ctx.clock, "min_refresh_interval": refresh}
        if jwks_file:
            jwks = JwksCache(file=ctx.settings.base_dir / jwks_file, **opts)
        elif jwks_url:
            jwks = JwksCache(url=jwks_url, **opts)
        else:
            jwks = JwksCache.for_issuer(config.issuer, **opts)
        out[name] = JwtAuthorizer(config, jwks, ctx.clock)
    return out


def _custom_authorizers(ctx: GatewayContext, names: set[str]) -> dict[str, CustomAuthorizer]:
    out: dict[str, CustomAuthorizer] = {}
    schemes = ctx.api.definition.security_schemes
    for name in sorted(names):
        ext = schemes[name].get("x-amazon-apigateway-authorizer") or {}
        config = CustomAuthorizerConfig.from_openapi(name, ext,
                                                     http_api=ctx.settings.api.kind == "http")
        out[name] = CustomAuthorizer(config, ctx.clock, storage=ctx.storage)
    return out


def _cedar(ctx: GatewayContext, data: Any) -> Stage:
    from bastion.auth.cedar import CedarAuthorizer, CedarMapping, CedarPolicyStore

    problems = Problems()
    sec = Section(data, file=str(ctx.settings.source), path="auth.cedar", problems=problems)
    base = ctx.settings.base_dir
    policies = [base / str(p) for p in sec.require("policies", list, [])]
    schema = sec.get("schema", str, "")
    entities = sec.get("entities", str, "")
    namespace = sec.require("namespace", str, "")
    resources = {str(k): (str(v[0]), str(v[1])) for k, v in
                 sec.get("resources", dict, {}).items() if isinstance(v, list) and len(v) == 2}
    group_claim = sec.get("group_claim", str, "cognito:groups")
    principal_claim = sec.get("principal_claim", str, "sub")
    context_headers = {str(k): str(v) for k, v in sec.get("context_headers", dict, {}).items()}
    context_claims = {str(k): str(v) for k, v in sec.get("context_claims", dict, {}).items()}
    source_ip = sec.get("context_source_ip", str, "") or None
    sec.done()
    problems.raise_if_any()
    store = CedarPolicyStore.load(policies, schema_file=base / schema if schema else None,
                                  entities_file=base / entities if entities else None)
    mapping = CedarMapping(namespace=namespace, resources=resources, group_claim=group_claim,
                           principal_claim=principal_claim, context_headers=context_headers,
                           context_claims=context_claims, context_source_ip=source_ip)
    return CedarStage(ctx, CedarAuthorizer(store, mapping))


def _plans(path: Path) -> list[UsagePlan]:
    raw = load_document(path) if path.suffix in (".yaml", ".yml") else json.loads(
        path.read_text(encoding="utf-8"))
    items = raw.get("items", raw) if isinstance(raw, Mapping) else raw
    if not isinstance(items, list):
        raise ConfigError("usage plans must be a list (or {items: [...]})", file=str(path))
    return [UsagePlan.from_dict(p) for p in items]


def _api_keys(ctx: GatewayContext) -> Stage | None:
    data = ctx.settings.extra.get("api_keys")
    needs = [r for r in ctx.api.routes if r.api_key_required]
    if data is None:
        if needs:
            r = needs[0]
            raise ConfigError(f"{r.method} {r.template} requires an API key: configure "
                              "api_keys.store and api_keys.usage_plans",
                              file=str(ctx.settings.source), key="api_keys")
        return None
    problems = Problems()
    sec = Section(data, file=str(ctx.settings.source), path="api_keys", problems=problems)
    base = ctx.settings.base_dir
    store = sec.require("store", str, "")
    plans = sec.get("usage_plans", str, "")
    default_source = str(ctx.api.definition.extension("x-amazon-apigateway-api-key-source",
                                                       "HEADER")).upper()
    source = sec.get("source", str, default_source, choices=("HEADER", "AUTHORIZER"))
    sec.done()
    problems.raise_if_any()
    plan_list = _plans(base / plans) if plans else []
    enforcer = UsagePlanEnforcer(ApiKeyStore(base / store, clock=ctx.clock), plan_list,
                                 ctx.storage, ctx.clock)
    return ApiKeyStage(ctx, enforcer, source)


def authorizers_layer(ctx: GatewayContext) -> list[Stage]:
    settings: AuthSettings = ctx.resources.get("auth_settings") or AuthSettings(
        ctx.settings.extra.get("auth"), file=str(ctx.settings.source),
        base=ctx.settings.base_dir)
    jwt_names = {r.authorizer for r in ctx.api.routes
                 if r.authorizer and r.auth_type in ("COGNITO_USER_POOLS", "JWT")}
    custom_names = {r.authorizer for r in ctx.api.routes
                    if r.authorizer and r.auth_type == "CUSTOM"}
    problems = Problems()
    sec = Section(settings.extra.get("authorizers"), file=str(ctx.settings.source),
                  path="auth.authorizers", problems=problems)
    stages: list[Stage] = []
    if jwt_names or custom_names:
        jwt = _jwt_authorizers(ctx, {n for n in jwt_names if n}, settings, sec)
        custom = _custom_authorizers(ctx, {n for n in custom_names if n})
        stages.append(AuthorizerStage(ctx, jwt, custom, settings))
    for name in sec.data:
        if name not in jwt_names:
            sec.error("no JWT/Cognito authorizer of this name is used by any route", name)
    problems.raise_if_any()
    if "cedar" in settings.extra:
        stages.append(_cedar(ctx, settings.extra["cedar"]))
    keys = _api_keys(ctx)
    if keys is not None:
        stages.append(keys)
    return stages
