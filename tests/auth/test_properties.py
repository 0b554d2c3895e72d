"""Refusals are values: no input makes an authorizer raise."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.auth.custom import CustomAuthorizer, CustomAuthorizerConfig
from bastion.auth.jwks import JwksCache
from bastion.auth.jwt import JwtAuthorizer, JwtConfig
from bastion.auth.request import AuthRequest
from bastion.clock import FrozenClock

_JWKS = {"keys": [{"kty": "oct", "kid": "k", "k": base64.urlsafe_b64encode(b"s" * 32)
                   .rstrip(b"=").decode(), "alg": "HS256"}]}
_JWT = JwtAuthorizer(JwtConfig(issuer="https://i", audiences=("a",), algorithms=("HS256",)),
                     JwksCache(keys=_JWKS), FrozenClock())


def _b64(obj: Any) -> str:
    raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(st.one_of(
    st.text(max_size=200),
    st.tuples(json_values, json_values, st.binary(max_size=40)).map(
        lambda t: f"{_b64(t[0])}.{_b64(t[1])}.{_b64(t[2])}"),
    st.tuples(st.dictionaries(st.sampled_from(["alg", "kid", "crit", "b64", "typ"]), json_values),
              json_values).map(lambda t: f"{_b64(t[0])}.{_b64(t[1])}.c2ln"),
))
def test_jwt_never_raises(token: str) -> None:
    out = _JWT.authorize(token, ["s"])
    assert out.status in (200, 401) and (out.ok or out.reason_code)


OUTPUTS: list[Any] = []


def echo(event: dict[str, Any]) -> Any:
    return OUTPUTS[-1]


@settings(max_examples=200, deadline=None)
@given(json_values, st.booleans())
def test_custom_authorizer_output_never_raises(output: Any, simple: bool) -> None:
    OUTPUTS.append(output)
    if simple:
        cfg = CustomAuthorizerConfig(name="p", function=echo, type="REQUEST", payload="2.0",
                                     simple_responses=True, ttl=0,
                                     identity_sources=("$request.header.x",))
    else:
        cfg = CustomAuthorizerConfig(name="p", function=echo, ttl=0)
    req = AuthRequest(method="GET", path="/", headers=(("Authorization", "t"), ("x", "1")))
    out = asyncio.run(CustomAuthorizer(cfg, FrozenClock()).authorize(req))
    assert out.status in (200, 403, 500)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(["Effect", "Action", "NotAction", "Resource",
                                        "NotResource", "Condition", "Sid"]), json_values),
       st.text(max_size=5))
def test_custom_authorizer_policy_never_raises(statement: dict[str, Any], principal: str) -> None:
    OUTPUTS.append({"principalId": principal,
                    "policyDocument": {"Version": "2012-10-17", "Statement": [statement]}})
    cfg = CustomAuthorizerConfig(name="p", function=echo, ttl=0)
    req = AuthRequest(method="GET", path="/", headers=(("Authorization", "t"),))
    out = asyncio.run(CustomAuthorizer(cfg, FrozenClock()).authorize(req))
    assert out.status in (200, 403, 500)
