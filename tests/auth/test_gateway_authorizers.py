"""Authorizers wired into the gateway: JWT/Cognito, custom (with the cache pitfall), Cedar,
API keys with usage plans."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from bastion.auth.apikeys import ApiKeyStore
from bastion.clock import FrozenClock
from bastion.config import settings_from_data
from bastion.gateway.gateway import build_gateway
from bastion.http.app import BastionApp
from bastion.layers import builtin_layers
from tests.auth.oidc_issuer import Issuer
from tests.helpers import Reply, call

HERE = Path(__file__).parent
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TEST"


def integ(handler: str = "echo") -> dict[str, Any]:
    return {"x-amazon-apigateway-integration": {"type": "aws_proxy",
                                                "uri": f"tests.gateway.handlers:{handler}"}}


def build(tmp_path: Path, clock: FrozenClock, paths: dict[str, Any], schemes: dict[str, Any],
          **cfg: Any) -> BastionApp:
    doc = {"openapi": "3.0.1", "info": {"title": "t", "version": "1"},
           "components": {"securitySchemes": schemes}, "paths": paths}
    (tmp_path / "api.yaml").write_text(yaml.safe_dump(doc))
    config = {"api": {"openapi": "api.yaml", "stage": "prod", "api_id": "a1b2c3"}, **cfg}
    path = tmp_path / "bastion.yaml"
    path.write_text(yaml.safe_dump(config))
    return BastionApp(build_gateway(settings_from_data(config, path), clock=clock,
                                    layers=builtin_layers()))


def send(app: BastionApp, method: str, path: str, headers: list[tuple[str, str]] | None = None,
         client: str = "198.51.100.1") -> Reply:
    return asyncio.run(call(app, method, path, headers=headers, client=client))


# --- Cognito user pool (REST) -------------------------------------------------------------

COGNITO = {"Pool": {
    "type": "apiKey", "name": "Authorization", "in": "header",
    "x-amazon-apigateway-authtype": "cognito_user_pools",
    "x-amazon-apigateway-authorizer": {
        "type": "cognito_user_pools",
        "providerARNs": ["arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_TEST"]},
    "x-bastion-audiences": ["client-1"]}}


@pytest.fixture
def issuer(tmp_path: Path) -> Issuer:
    iss = Issuer()
    iss.add_rsa("k1")
    (tmp_path / "jwks.json").write_text(__import__("json").dumps(iss.jwks()))
    return iss


def id_token(issuer: Issuer, clock: FrozenClock, **over: Any) -> str:
    now = int(clock.time())
    claims = {"sub": "alice-1", "aud": "client-1", "iss": ISSUER, "token_use": "id",
              "cognito:username": "alice", "iat": now, "exp": now + 3600, **over}
    return issuer.sign(claims, "k1")


def cognito_app(tmp_path: Path, clock: FrozenClock, **cfg: Any) -> BastionApp:
    paths = {"/me": {"get": {"security": [{"Pool": []}], **integ()}},
             "/read": {"get": {"security": [{"Pool": ["pets/read"]}], **integ()}}}
    return build(tmp_path, clock, paths, COGNITO,
                 auth={"authorizers": {"Pool": {"jwks_file": "jwks.json"}}}, **cfg)


def test_cognito_id_token_reaches_the_handler_as_claims(tmp_path: Path, clock: FrozenClock,
                                                        issuer: Issuer) -> None:
    app = cognito_app(tmp_path, clock)
    reply = send(app, "GET", "/prod/me", [("Authorization", id_token(issuer, clock))])
    assert reply.status == 200, reply.body
    claims = reply.json()["event"]["requestContext"]["authorizer"]["claims"]
    assert claims["cognito:username"] == "alice" and claims["sub"] == "alice-1"
    assert all(isinstance(v, str) for v in claims.values())


@pytest.mark.parametrize(("case", "over"), [
    ("expired", {"exp": 1}),
    ("wrong audience", {"aud": "other-client"}),
    ("access token where an id token is expected", {"token_use": "access"}),
    ("wrong issuer", {"iss": "https://evil.example"}),
])
def test_cognito_refusals_are_401_unauthorized(tmp_path: Path, clock: FrozenClock,
                                               issuer: Issuer, case: str,
                                               over: dict[str, Any]) -> None:
    app = cognito_app(tmp_path, clock)
    reply = send(app, "GET", "/prod/me", [("Authorization", id_token(issuer, clock, **over))])
    assert reply.status == 401, case
    assert reply.body == b'{"message":"Unauthorized"}'
    assert reply.header("x-amzn-ErrorType") == "UnauthorizedException"


def test_cognito_missing_token_and_scopes(tmp_path: Path, clock: FrozenClock,
                                          issuer: Issuer) -> None:
    app = cognito_app(tmp_path, clock)
    assert send(app, "GET", "/prod/me").status == 401
    # a method with scopes wants an access token carrying one of them
    reply = send(app, "GET", "/prod/read", [("Authorization", id_token(issuer, clock))])
    assert reply.status == 401
    access = issuer.sign({"sub": "alice-1", "client_id": "client-1", "iss": ISSUER,
                          "token_use": "access", "scope": "pets/read",
                          "iat": int(clock.time()), "exp": int(clock.time()) + 60}, "k1")
    assert send(app, "GET", "/prod/read", [("Authorization", access)]).status == 200


def test_unknown_authorizer_settings_name_is_a_config_error(tmp_path: Path,
                                                            clock: FrozenClock) -> None:
    from bastion.errors import ConfigError

    with pytest.raises(ConfigError, match="auth.authorizers.Nope"):
        build(tmp_path, clock, {"/x": {"get": integ()}}, {},
              auth={"authorizers": {"Nope": {"jwks_file": "x.json"}}})


# --- custom (Lambda-style) authorizer ------------------------------------------------------

CUSTOM = {"Tok": {"type": "apiKey", "name": "Authorization", "in": "header",
                  "x-amazon-apigateway-authtype": "custom",
                  "x-amazon-apigateway-authorizer": {
                      "type": "token", "authorizerUri": "tests.auth.authorizers:per_method",
                      "authorizerResultTtlInSeconds": 300}}}


def custom_app(tmp_path: Path, clock: FrozenClock) -> BastionApp:
    sec = [{"Tok": []}]
    return build(tmp_path, clock, {"/pets": {"get": {"security": sec, **integ()},
                                             "post": {"security": sec, **integ()}}}, CUSTOM)


def test_custom_authorizer_allow_deny_errors(tmp_path: Path, clock: FrozenClock) -> None:
    app = custom_app(tmp_path, clock)
    reply = send(app, "GET", "/prod/pets", [("Authorization", "good")])
    assert reply.status == 200
    assert reply.json()["event"]["requestContext"]["authorizer"]["principalId"]
    deny = send(app, "GET", "/prod/pets", [("Authorization", "deny")])
    assert deny.status == 403
    assert deny.body == (b'{"Message":"User is not authorized to access this resource with an '
                         b'explicit deny"}')
    assert send(app, "GET", "/prod/pets", [("Authorization", "unauthorized")]).status == 401
    boom = send(app, "GET", "/prod/pets", [("Authorization", "boom")])
    assert (boom.status, boom.body) == (500, b'{"message": null}')
    assert boom.header("x-amzn-ErrorType") == "AuthorizerConfigurationException"
    assert send(app, "GET", "/prod/pets").status == 401  # no token: not even invoked


def test_custom_authorizer_cache_pitfall_is_reproduced_and_explained(
        tmp_path: Path, clock: FrozenClock) -> None:
    app = custom_app(tmp_path, clock)
    gw = app.gateway
    assert send(app, "GET", "/prod/pets", [("Authorization", "good")]).status == 200

    async def post() -> tuple[Reply, Any]:
        ex_holder: dict[str, Any] = {}
        original = gw.finish

        def capture(ex: Any) -> Any:
            ex_holder["ex"] = ex
            return original(ex)
        gw.finish = capture  # type: ignore[method-assign]
        try:
            reply = await call(app, "POST", "/prod/pets", headers=[("Authorization", "good")])
        finally:
            gw.finish = original  # type: ignore[method-assign]
        return reply, ex_holder["ex"]
    reply, ex = asyncio.run(post())
    assert reply.status == 403
    assert reply.body == b'{"Message":"User is not authorized to access this resource"}'
    assert ex.interruption is not None
    assert "GET/pets" in ex.interruption.reason and "POST/pets" in ex.interruption.reason
    assert any(t.event == "cache.pitfall" for t in ex.trace)
    # once the TTL passes, the authorizer runs again for POST and allows it
    clock.advance(301)
    assert send(app, "POST", "/prod/pets", [("Authorization", "good")]).status == 200


# --- Cedar (Verified Permissions style) ----------------------------------------------------

def test_cedar_owner_may_get_and_put_admin_may_delete(tmp_path: Path, clock: FrozenClock,
                                                      issuer: Issuer) -> None:
    for name in ("policies.cedar", "schema.json", "entities.json"):
        shutil.copyfile(HERE / "cedar_petstore" / name, tmp_path / name)
    sec = [{"Pool": []}]
    paths = {"/pets/{petId}": {m: {"security": sec, **integ()} for m in ("get", "put",
                                                                         "delete")}}
    app = build(tmp_path, clock, paths, COGNITO, auth={
        "authorizers": {"Pool": {"jwks_file": "jwks.json"}},
        "cedar": {"policies": ["policies.cedar"], "schema": "schema.json",
                  "entities": "entities.json", "namespace": "PetStore",
                  "resources": {"/pets/{petId}": ["Pet", "petId"]},
                  "principal_claim": "cognito:username",
                  "context_headers": {"note": "x-note"}, "context_source_ip": "sourceIp"}})
    alice = [("Authorization", id_token(issuer, clock)), ("x-note", "hi")]
    admin = [("Authorization", id_token(issuer, clock, **{
        "cognito:username": "carol", "cognito:groups": ["admin"]})), ("x-note", "hi")]
    assert send(app, "GET", "/prod/pets/1", alice).status == 200
    assert send(app, "PUT", "/prod/pets/1", alice).status == 200
    assert send(app, "GET", "/prod/pets/2", alice).status == 403  # bob's pet
    assert send(app, "DELETE", "/prod/pets/1", alice).status == 403
    assert send(app, "DELETE", "/prod/pets/2", admin).status == 200
    blocked = send(app, "GET", "/prod/pets/1", alice, client="203.0.113.7")
    assert blocked.status == 403


# --- API keys and usage plans ----------------------------------------------------------------

PLAN = [{"id": "gold", "apiStages": [{"apiId": "a1b2c3", "stage": "prod"}],
         "throttle": {"rateLimit": 1.0, "burstLimit": 2},
         "quota": {"limit": 5, "period": "DAY"}}]


def keys_app(tmp_path: Path, clock: FrozenClock) -> tuple[BastionApp, str]:
    import json

    (tmp_path / "plans.json").write_text(json.dumps(PLAN))
    store = ApiKeyStore(tmp_path / "keys.json", clock=clock)
    _, value = store.create("partner", plans=["gold"])
    schemes = {"api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"}}
    app = build(tmp_path, clock, {"/p": {"get": {"security": [{"api_key": []}], **integ()}}},
                schemes, api_keys={"store": "keys.json", "usage_plans": "plans.json"})
    return app, value


def test_api_key_missing_or_unknown_is_403_forbidden(tmp_path: Path, clock: FrozenClock) -> None:
    app, _ = keys_app(tmp_path, clock)
    for headers in ([], [("x-api-key", "WrongKeyValue00000000000")]):
        reply = send(app, "GET", "/prod/p", headers)
        assert (reply.status, reply.body) == (403, b'{"message":"Forbidden"}')
        assert reply.header("x-amzn-ErrorType") == "ForbiddenException"


def test_usage_plan_throttle_then_quota(tmp_path: Path, clock: FrozenClock) -> None:
    app, key = keys_app(tmp_path, clock)
    h = [("x-api-key", key)]
    first = send(app, "GET", "/prod/p", h)
    assert first.status == 200
    assert first.json()["event"]["requestContext"]["identity"]["apiKey"] == key
    assert send(app, "GET", "/prod/p", h).status == 200
    throttled = send(app, "GET", "/prod/p", h)
    assert (throttled.status, throttled.body) == (429, b'{"message":"Too Many Requests"}')
    for _ in range(3):
        clock.advance(1.0)
        assert send(app, "GET", "/prod/p", h).status == 200
    clock.advance(1.0)
    over = send(app, "GET", "/prod/p", h)  # 5 admitted today: the quota is used up
    assert (over.status, over.body) == (429, b'{"message":"Limit Exceeded"}')
    assert over.header("x-amzn-ErrorType") == "LimitExceededException"
    clock.advance(86_400)  # next UTC day
    assert send(app, "GET", "/prod/p", h).status == 200


def test_api_key_route_without_key_config_is_refused_at_load(tmp_path: Path,
                                                             clock: FrozenClock) -> None:
    from bastion.errors import ConfigError

    schemes = {"api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"}}
    with pytest.raises(ConfigError, match="requires an API key"):
        build(tmp_path, clock, {"/p": {"get": {"security": [{"api_key": []}], **integ()}}},
              schemes)
