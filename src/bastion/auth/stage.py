"""The AUTHORIZE phase: resource policy x the method's authorization type, in AWS's order.

* NONE with a resource policy: the policy must explicitly allow the anonymous caller.
* AWS_IAM: SigV4, then identity policies x resource policy (Table A / Table B).
* CUSTOM / COGNITO_USER_POOLS / JWT: the authorizer stages (``bastion.auth.authorizers``) run
  after this one; here only the resource policy's explicit-deny pre-check applies, as AWS does
  before calling a Lambda authorizer.

Config (``auth:`` in bastion.yaml)::

    auth:
      credentials: credentials.yaml   # IAM users/roles/keys for AWS_IAM methods
      resource_policy: policy.json    # else x-amazon-apigateway-policy from the OpenAPI
      replay_protection: false        # beyond AWS: each signature accepted once
      mask_account_id: true           # as AWS masks the account in 403 texts
      allow_unsigned_payload: false
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bastion.auth.aws_iam import INVOKE, authorize_aws_iam
from bastion.auth.credentials import CredentialStore, Principal
from bastion.auth.iam import (
    ApiScope,
    Policy,
    RequestContext,
    access_denied_body,
    execute_api_arn,
    parse_policy,
    simulate,
)
from bastion.auth.iam.decision import Outcome
from bastion.auth.iam.loader import load_policy_file
from bastion.auth.sigv4 import SigV4Success, SigV4Verifier, VerifierOptions
from bastion.config import Problems, Section
from bastion.errors import ConfigError
from bastion.gateway.api import Route
from bastion.gateway.gateway import GatewayContext
from bastion.pipeline import Exchange, Interruption, Phase, Stage
from bastion.state import Feature

__all__ = ["AuthSettings", "IamAuthorizeStage", "auth_layer", "method_arn"]


class AuthSettings:
    """The ``auth:`` section, validated."""

    def __init__(self, data: Any, *, file: str, base: Path) -> None:
        problems = Problems()
        sec = Section(data, file=file, path="auth", problems=problems)
        creds = sec.get("credentials", str, "")
        policy = sec.get("resource_policy", str, "")
        self.credentials = (base / creds) if creds else None
        self.resource_policy = (base / policy) if policy else None
        for key, path in (("credentials", self.credentials),
                          ("resource_policy", self.resource_policy)):
            if path is not None and not path.is_file():
                sec.error(f"file not found: {path}", key)
        self.replay_protection = sec.get("replay_protection", bool, False)
        self.mask_account_id = sec.get("mask_account_id", bool, True)
        self.allow_unsigned_payload = sec.get("allow_unsigned_payload", bool, False)
        self.cognito_requires_explicit_allow = sec.get(
            "cognito_requires_explicit_allow", bool, True)
        self.extra = {k: sec.raw(k) for k in ("authorizers", "cedar") if sec.has(k)}
        sec.done()
        problems.raise_if_any()


def method_arn(ctx: GatewayContext, ex: Exchange) -> str:
    """``arn:aws:execute-api:region:account:api/stage/METHOD/path`` for this request."""
    api = ctx.settings.api
    path = ex.route.path if ex.route else ex.request.raw_path
    return execute_api_arn(api.region, api.account_id, api.api_id, api.stage,
                           ex.request.method, path)


def _resource_policy(ctx: GatewayContext, settings: AuthSettings) -> Policy | None:
    api = ctx.settings.api
    scope = ApiScope(api.region, api.account_id, api.api_id)
    if settings.resource_policy is not None:
        return load_policy_file(settings.resource_policy, kind="resource", api=scope)
    doc = ctx.api.definition.extension("x-amazon-apigateway-policy")
    if doc is None:
        return None
    return parse_policy(doc, name=f"{ctx.api.definition.source}: x-amazon-apigateway-policy",
                        kind="resource", api=scope)


class IamAuthorizeStage:
    """Resource policy and AWS_IAM authorization (runs first in the AUTHORIZE phase)."""

    name = "iam"
    phase = Phase.AUTHORIZE
    priority = 100

    def __init__(self, ctx: GatewayContext, settings: AuthSettings,
                 resource_policy: Policy | None) -> None:
        self.ctx = ctx
        self.settings = settings
        self.resource_policy = resource_policy
        self.clock = ctx.clock
        self.store: CredentialStore | None = None
        self.verifier: SigV4Verifier | None = None
        if settings.credentials is not None:
            self.store = CredentialStore(settings.credentials, ctx.clock)
            options = VerifierOptions(regions=(ctx.settings.api.region,),
                                      allow_unsigned_payload=settings.allow_unsigned_payload)
            # Replay protection uses the shared state backend (below), not the verifier's
            # in-process cache, so every process sharing Redis refuses a replay.
            self.verifier = SigV4Verifier(self.store, ctx.clock, options)
        self.storage = ctx.storage
        self._checked = ctx.clock.monotonic()

    def _context(self, ex: Exchange) -> RequestContext:
        req = ex.request
        return RequestContext.for_request(
            now=self.clock.time(), source_ip=req.client_ip,
            secure_transport=req.scheme == "https",
            user_agent=req.headers.get("user-agent"), referer=req.headers.get("referer"))

    async def run(self, ex: Exchange) -> Interruption | None:
        assert ex.route is not None
        route: Route = ex.route.route
        auth = route.auth_type
        if auth == "AWS_IAM":
            return await self._iam(ex)
        rp = self.resource_policy
        if rp is None:
            return None
        arn = method_arn(self.ctx, ex)
        decision = simulate((), rp, INVOKE, arn, None, self._context(ex))
        ex.note(self.name, "resource_policy", outcome=decision.outcome.name,
                why=decision.explain())
        if decision.outcome is Outcome.EXPLICIT_DENY or (
                auth == "NONE" and not decision.allowed):
            return self._denied(ex, decision, None, arn)
        if auth in ("COGNITO_USER_POOLS", "JWT"):
            ex.notes["resource_policy_decision"] = decision
        return None

    def _denied(self, ex: Exchange, decision: Any, principal: str | None,
                arn: str) -> Interruption:
        body = access_denied_body(decision, principal, INVOKE, arn,
                                  mask_account=self.settings.mask_account_id)
        key, message = next(iter(body.items()))
        return Interruption("ACCESS_DENIED", message=message, status=403,
                            error_type="AccessDeniedException", message_key=key,
                            source=self.name, reason=decision.explain())

    async def _iam(self, ex: Exchange) -> Interruption | None:
        verifier = self.verifier
        assert verifier is not None and self.store is not None  # checked at load
        now = self.clock.monotonic()
        if now - self._checked >= 1.0:  # key rotation: look at the file at most once a second
            self._checked = now
            self.store.reload_if_changed()
        req = ex.request
        arn = method_arn(self.ctx, ex)
        result = authorize_aws_iam(
            verifier, req.method, req.raw_path, req.query_string, req.headers.items(), req.body,
            method_arn=arn, resource_policy=self.resource_policy, now=self.clock.time(),
            source_ip=req.client_ip, secure_transport=req.scheme == "https",
            mask_account=self.settings.mask_account_id)
        principal = result.principal
        ex.note(self.name, "aws_iam", allowed=result.allowed,
                principal=principal.arn if principal else None,
                why=result.decision.explain() if result.decision else getattr(
                    result.sigv4, "reason", ""))
        if not result.allowed:
            return result.interruption()
        if self.settings.replay_protection and isinstance(result.sigv4, SigV4Success):
            replay = await self._replayed(ex, result.sigv4)
            if replay is not None:
                return replay
        if isinstance(principal, Principal):
            ex.notes["iam_principal"] = principal
            ex.principal = principal.arn
            access_key = getattr(result.sigv4, "access_key", None)
            ex.identity.update({
                "accessKey": access_key, "accountId": principal.account,
                "caller": principal.userid, "user": principal.userid,
                "userArn": principal.arn})
        return None


    async def _replayed(self, ex: Exchange, ok: SigV4Success) -> Interruption | None:
        """Each signature is accepted once while it could still verify (beyond AWS)."""
        window = 300.0
        if ok.presigned:
            expires = next((v for k, v in ex.request.query_params if k == "X-Amz-Expires"), "")
            window = float(expires) if expires.isdigit() else 604_800.0
        ttl = max(1.0, ok.signed_at + window - self.clock.time() + 1.0)
        fresh = await self.storage.set_if_absent(
            Feature.REPLAY, f"sigv4:{ok.access_key}:{ok.signature}", ttl)
        if fresh:
            return None
        ex.note(self.name, "replayed", access_key=ok.access_key)
        return Interruption("INVALID_SIGNATURE", status=403,
                            message="The request signature has already been used.",
                            error_type="InvalidSignatureException", source=self.name,
                            reason="replayed signature")

    def can_invalidate_cache(self, ex: Exchange) -> bool:
        """Whether the signed caller may ``execute-api:InvalidateCache`` on this method."""
        principal = ex.notes.get("iam_principal")
        if not isinstance(principal, Principal):
            return False
        arn = method_arn(self.ctx, ex)
        ctx = principal.context(now=self.clock.time(), source_ip=ex.request.client_ip,
                                secure_transport=ex.request.scheme == "https")
        decision = simulate(principal.policies, self.resource_policy,
                            "execute-api:InvalidateCache", arn, principal.arn, ctx)
        ex.note(self.name, "invalidate_cache", allowed=decision.allowed,
                why=decision.explain())
        return decision.allowed


def auth_layer(ctx: GatewayContext) -> list[Stage]:
    """Builds the AUTHORIZE stages from ``auth:`` (and the OpenAPI's resource policy)."""
    settings = AuthSettings(ctx.settings.extra.get("auth"), file=str(ctx.settings.source),
                            base=ctx.settings.base_dir)
    rp = _resource_policy(ctx, settings)
    iam_routes = [r for r in ctx.api.routes if r.auth_type == "AWS_IAM"]
    if iam_routes and settings.credentials is None:
        r = iam_routes[0]
        raise ConfigError(f"{r.method} {r.template} uses AWS_IAM (awsSigv4) authorization: "
                          "set auth.credentials to an IAM credentials file",
                          file=str(ctx.settings.source), key="auth.credentials")
    if rp is None and not iam_routes:
        return []
    ctx.resources["auth_settings"] = settings
    stage = IamAuthorizeStage(ctx, settings, rp)
    ctx.resources["invalidate_cache_check"] = stage.can_invalidate_cache
    if stage.store is not None:
        ctx.resources["credential_store"] = stage.store
    return [stage]
