from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from bastion.auth.custom import (
    CustomAuthorizer,
    CustomAuthorizerConfig,
    authorizer_context_v1,
    authorizer_context_v2,
)
from bastion.auth.outcome import AuthOutcome
from bastion.auth.request import AuthRequest
from bastion.clock import FrozenClock
from bastion.errors import ConfigError
from tests.auth import authorizers

ARN = "arn:aws:execute-api:us-east-1:123456789012:bastion/prod"


@pytest.fixture(autouse=True)
def _calls() -> Iterator[None]:
    authorizers.CALLS.clear()
    yield
    authorizers.CALLS.clear()


def run(a: CustomAuthorizer, req: AuthRequest) -> AuthOutcome:
    return asyncio.run(a.authorize(req))


def req(method: str = "GET", path: str = "/pets", token: str | None = "alice",
        **kw: Any) -> AuthRequest:
    headers = kw.pop("headers", ())
    if token is not None:
        headers = (("Authorization", token), *headers)
    return AuthRequest(method=method, path=path, resource=kw.pop("resource", path),
                       headers=tuple(headers), **kw)


def token_auth(clock: FrozenClock, fn: str = "per_method", **kw: Any) -> CustomAuthorizer:
    cfg = CustomAuthorizerConfig(name="tok", function=f"tests.auth.authorizers:{fn}", **kw)
    return CustomAuthorizer(cfg, clock)


def test_token_event_shape_and_allow(clock: FrozenClock) -> None:
    out = run(token_auth(clock), req())
    assert out.ok and out.principal == "user-alice"
    assert authorizers.CALLS == [{"type": "TOKEN", "authorizationToken": "alice",
                                  "methodArn": f"{ARN}/GET/pets"}]
    assert authorizer_context_v1(out) == {"principalId": "user-alice", "tier": "gold",
                                          "n": "3", "flag": "true", "nothing": None,
                                          "integrationLatency": 0}
    assert out.usage_identifier_key == "k" * 20
    dumped = json.dumps([e.detail for e in out.trace], default=str)
    assert '"alice"' not in dumped  # the token is masked


def test_ttl_cache_and_expiry(clock: FrozenClock) -> None:
    a = token_auth(clock, ttl=300)
    assert run(a, req()).ok
    clock.advance(299)
    out = run(a, req())
    assert out.ok and len(authorizers.CALLS) == 1
    assert [e.event for e in out.trace if e.event.startswith("cache")] == ["cache.hit"]
    clock.advance(1)
    out = run(a, req())
    assert len(authorizers.CALLS) == 2
    assert "cache.expired" in [e.event for e in out.trace]


def test_ttl_zero_disables_cache(clock: FrozenClock) -> None:
    a = token_auth(clock, ttl=0)
    for _ in range(3):
        assert run(a, req()).ok
    assert len(authorizers.CALLS) == 3


def test_identity_source_change_is_a_new_invocation(clock: FrozenClock) -> None:
    a = token_auth(clock)
    run(a, req(token="alice"))
    run(a, req(token="bob"))
    run(a, req(token="alice"))
    assert [c["authorizationToken"] for c in authorizers.CALLS] == ["alice", "bob"]


def test_cross_method_pitfall_reproduced_and_explained(
        clock: FrozenClock, caplog: pytest.LogCaptureFixture) -> None:
    a = token_auth(clock, ttl=300)
    assert run(a, req("GET", "/pets")).ok
    out = run(a, req("POST", "/pets"))  # same token -> cached policy for GET /pets
    assert len(authorizers.CALLS) == 1
    assert (out.status, out.error_type, out.body()) == (
        403, "AccessDeniedException", {"Message": "User is not authorized to access this resource"})
    assert out.reason_code == "cached_policy_mismatch"
    assert f"cached policy built for {ARN}/GET/pets was applied to {ARN}/POST/pets" in out.reason
    pit = [e for e in out.trace if e.event == "cache.pitfall"][0]
    assert pit.detail["cached_method_arn"] == f"{ARN}/GET/pets"
    assert pit.detail["request_method_arn"] == f"{ARN}/POST/pets"
    run(a, req("POST", "/pets"))
    logged = [r.getMessage() for r in caplog.records if r.name == "bastion.auth.custom"]
    assert len(logged) == 1 and f"{ARN}/GET/pets was applied to {ARN}/POST/pets" in logged[0]
    itr = out.to_interruption()
    assert (itr.status, itr.response_type, itr.message_key) == (403, "ACCESS_DENIED", "Message")
    # with TTL 0, as AWS advises, the same calls succeed
    b = token_auth(clock, ttl=0)
    assert run(b, req("GET", "/pets")).ok and run(b, req("POST", "/pets")).ok
    # and a policy covering the whole API is safe to cache
    c = token_auth(clock, fn="wildcard")
    assert run(c, req("GET", "/pets")).ok and run(c, req("DELETE", "/pets/1")).ok


def test_error_mapping(clock: FrozenClock) -> None:
    a = token_auth(clock, ttl=0)
    for tok in ("unauthorized", "unauthorized-subclass"):  # AWS reads the errorMessage only
        out = run(a, req(token=tok))
        assert (out.status, out.error_type, out.body()) == (
            401, "UnauthorizedException", {"message": "Unauthorized"})
    out = run(a, req(token="deny"))
    assert (out.status, out.error_type, out.body()) == (
        403, "AccessDeniedException",
        {"Message": "User is not authorized to access this resource with an explicit deny"})
    assert "Statement[0] (NoWay)" in out.reason
    for tok in ("boom", "unauthorized-lower"):
        out = run(a, req(token=tok))
        assert (out.status, out.error_type, out.body()) == (
            500, "AuthorizerConfigurationException", {"message": None})
        assert out.reason_code == "authorizer_error"


@pytest.mark.parametrize("mode", ["nopolicy", "badcontext", "string"])
def test_malformed_output_is_500(clock: FrozenClock, mode: str) -> None:
    out = run(token_auth(clock, fn="malformed"), req(token=mode))
    assert (out.status, out.body(), out.reason_code) == (500, {"message": None},
                                                         "malformed_output")


def test_malformed_policy_is_500(clock: FrozenClock) -> None:
    out = run(token_auth(clock, fn="malformed"), req(token="badpolicy"))
    assert (out.status, out.reason_code) == (500, "malformed_policy")
    assert out.reason.startswith("Could not parse policy")


def test_timeouts_are_500(clock: FrozenClock) -> None:
    try:
        out = run(token_auth(clock, fn="slow", timeout=0.05), req())
        assert (out.status, out.reason_code) == (500, "timeout")
    finally:
        authorizers.RELEASE.set()
    out = run(token_auth(clock, fn="slow_async", timeout=0.05), req())
    assert (out.status, out.reason_code) == (500, "timeout")


def test_token_missing_or_failing_validation_is_401_without_invoking(clock: FrozenClock) -> None:
    a = token_auth(clock, identity_validation_expression=r"Bearer [A-Za-z]+")
    assert run(a, req(token=None)).reason_code == "identity_missing"
    assert run(a, req(token="")).reason_code == "identity_missing"
    out = run(a, req(token="Bearer abc123"))
    assert (out.status, out.reason_code) == (401, "identity_invalid")
    assert authorizers.CALLS == []
    assert run(a, req(token="Bearer abc")).ok


def request_auth(clock: FrozenClock, **kw: Any) -> CustomAuthorizer:
    cfg = CustomAuthorizerConfig(
        name="req", function="tests.auth.authorizers:request_auth", type="REQUEST",
        identity_sources=kw.pop("identity_sources", (
            "method.request.header.X-User", "method.request.querystring.tenant",
            "stageVariables.env", "context.requestId")), **kw)
    return CustomAuthorizer(cfg, clock)


def rreq(user: str | None = "alice", tenant: str | None = "t1", **kw: Any) -> AuthRequest:
    headers = (("X-User", user),) if user is not None else ()
    query = (("tenant", tenant),) if tenant is not None else ()
    return AuthRequest(method="GET", path="/pets/7", resource="/pets/{petId}",
                       headers=(*headers, ("Accept", "a"), ("Accept", "b")), query=query,
                       path_params={"petId": "7"}, stage_variables={"env": "dev"},
                       request_id="rid-1", **kw)


def test_request_event_shape(clock: FrozenClock) -> None:
    assert run(request_auth(clock), rreq()).ok
    ev = authorizers.CALLS[0]
    assert ev["type"] == "REQUEST" and ev["methodArn"] == f"{ARN}/GET/pets/7"
    assert ev["resource"] == "/pets/{petId}" and ev["path"] == "/pets/7"
    assert ev["headers"]["Accept"] == "b" and ev["multiValueHeaders"]["Accept"] == ["a", "b"]
    assert ev["queryStringParameters"] == {"tenant": "t1"}
    assert ev["pathParameters"] == {"petId": "7"} and ev["stageVariables"] == {"env": "dev"}
    assert ev["requestContext"]["resourcePath"] == "/pets/{petId}"
    assert ev["requestContext"]["path"] == "/prod/pets/7"


def test_request_caching_keys_on_all_sources(clock: FrozenClock) -> None:
    a = request_auth(clock)
    run(a, rreq())
    run(a, rreq())
    run(a, rreq(tenant="t2"))
    assert len(authorizers.CALLS) == 2


def test_request_missing_source_with_cache_is_401(clock: FrozenClock) -> None:
    out = run(request_auth(clock), rreq(tenant=None))
    assert (out.status, out.reason_code) == (401, "identity_missing")
    assert "method.request.querystring.tenant" in out.reason
    assert run(request_auth(clock), rreq(user="")).status == 401
    assert authorizers.CALLS == []
    # without caching, REST identity sources are optional
    assert run(request_auth(clock, ttl=0), rreq(tenant=None)).ok


def http_auth(clock: FrozenClock, payload: str, simple: bool = False) -> CustomAuthorizer:
    fn = "async_simple" if simple else "request_auth"
    cfg = CustomAuthorizerConfig.from_openapi("h", {
        "type": "request", "identitySource": ["$request.header.X-User", "$context.routeKey"],
        "authorizerPayloadFormatVersion": payload, "enableSimpleResponses": simple,
        "authorizerResultTtlInSeconds": 300, "x-bastion-function":
            f"tests.auth.authorizers:{fn}"}, http_api=True)
    return CustomAuthorizer(cfg, clock)


def test_http_payload_2_simple_response(clock: FrozenClock) -> None:
    a = http_auth(clock, "2.0", simple=True)
    out = run(a, rreq(route_key="GET /pets/{petId}"))
    assert out.ok and authorizer_context_v2(out) == {"lambda": {"groups": ["a", "b"]}}
    ev = authorizers.CALLS[0]
    assert ev["version"] == "2.0" and ev["identitySource"] == ["alice", "GET /pets/{petId}"]
    assert ev["routeArn"] == f"{ARN}/GET/pets/7" and ev["headers"]["accept"] == "a,b"
    assert ev["requestContext"]["http"]["method"] == "GET"
    out = run(a, rreq(user="mallory", route_key="GET /pets/{petId}"))
    assert (out.status, out.body()) == (403, {"message": "Forbidden"})
    assert run(a, rreq(user=None)).status == 401


def test_http_payload_1(clock: FrozenClock) -> None:
    a = http_auth(clock, "1.0")
    assert run(a, rreq()).ok
    ev = authorizers.CALLS[0]
    assert ev["version"] == "1.0" and ev["identitySource"] == "alice,GET /pets/{petId}"
    assert ev["authorizationToken"] == ev["identitySource"]


def test_config_validation() -> None:
    with pytest.raises(ConfigError, match="0..3600"):
        CustomAuthorizerConfig(name="x", function=authorizers.wildcard, ttl=3601)
    with pytest.raises(ConfigError, match="module:function"):
        CustomAuthorizer(CustomAuthorizerConfig(name="x", function="nocolon"))
    with pytest.raises(ConfigError, match="cannot load"):
        CustomAuthorizer(CustomAuthorizerConfig(name="x", function="tests.auth.authorizers:nope"))
    with pytest.raises(ConfigError, match="identity source"):
        CustomAuthorizerConfig(name="x", function=authorizers.wildcard, type="REQUEST",
                               identity_sources=("method.request.path.id",))
    with pytest.raises(ConfigError, match="identityValidationExpression"):
        CustomAuthorizerConfig(name="x", function=authorizers.wildcard,
                               identity_validation_expression="(")


def test_cache_is_bounded(clock: FrozenClock) -> None:
    a = token_auth(clock, cache_size=2)
    for t in ("a", "b", "c", "a"):
        run(a, req(token=t))
    assert len(authorizers.CALLS) == 4  # "a" was evicted


def test_shared_cache_in_state_backend(clock: FrozenClock) -> None:
    """Two gateway processes sharing one store: the second reuses the first one's result
    (and its pitfall); the token never appears in a storage key."""
    from bastion.state import GuardedStorage, MemoryStorage

    mem = MemoryStorage(clock)
    shared = GuardedStorage(mem, clock)
    cfg = CustomAuthorizerConfig(name="tok", function="tests.auth.authorizers:per_method")
    one, two = CustomAuthorizer(cfg, clock, storage=shared), CustomAuthorizer(
        cfg, clock, storage=mem)

    async def scenario() -> list[AuthOutcome]:
        return [await one.authorize(req("GET", "/pets", token="sekret-token")),
                await two.authorize(req("GET", "/pets", token="sekret-token")),
                await two.authorize(req("POST", "/pets", token="sekret-token"))]

    first, second, third = asyncio.run(scenario())
    assert first.ok and second.ok and len(authorizers.CALLS) == 1
    assert any(e.event == "cache.hit" for e in second.trace)
    assert third.reason_code == "cached_policy_mismatch"
    assert "sekret-token" not in repr(list(vars(mem)["_entries"]))
    clock.advance(300)
    assert run(two, req("GET", "/pets", token="sekret-token")).ok
    assert len(authorizers.CALLS) == 2  # expired in the shared store too


def test_from_openapi_rest() -> None:
    cfg = CustomAuthorizerConfig.from_openapi("auth", {
        "type": "token", "authorizerUri": "tests.auth.authorizers:per_method",
        "identitySource": "method.request.header.X-Token",
        "identityValidationExpression": "^x-.*$", "authorizerResultTtlInSeconds": 60})
    assert (cfg.type, cfg.identity_sources, cfg.ttl, cfg.payload) == (
        "TOKEN", ("method.request.header.X-Token",), 60, "REST")
    req_cfg = CustomAuthorizerConfig.from_openapi("r", {
        "type": "request", "x-bastion-function": "tests.auth.authorizers:request_auth",
        "identitySource": "method.request.header.A, method.request.querystring.b",
        "authorizerResultTtlInSeconds": 0})
    assert req_cfg.identity_sources == ("method.request.header.A", "method.request.querystring.b")
    with pytest.raises(ConfigError, match="identity source"):
        CustomAuthorizerConfig.from_openapi("r", {"type": "request",
                                                  "x-bastion-function": "m:f"})
    with pytest.raises(ConfigError, match="callable"):
        CustomAuthorizerConfig.from_openapi("r", {
            "type": "token",
            "authorizerUri": "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/x"})
