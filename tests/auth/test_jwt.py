from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any, cast

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization

from bastion.auth.jwks import JwksCache
from bastion.auth.jwt import (
    JwtAuthorizer,
    JwtConfig,
    claims_v1,
    cognito_issuer,
    config_from_openapi,
    jwt_context_v2,
)
from bastion.auth.trace import select
from bastion.clock import FrozenClock
from tests.auth.oidc_issuer import Issuer, serve

NOW = 1_700_000_000
CLIENT = "app-client-1"


@pytest.fixture(scope="module")
def keys() -> Issuer:
    iss = Issuer()
    iss.add_rsa("k1")
    iss.add_ec("e1")
    iss.add_rsa("k2", publish=False)  # rotated in later
    return iss


@pytest.fixture
def issuer(keys: Issuer) -> Iterator[Issuer]:
    keys.published = ["k1", "e1"]
    keys.hits = 0
    with serve(keys) as iss:
        yield iss


def id_claims(iss: Issuer, /, **kw: Any) -> dict[str, Any]:
    c = {"sub": "u-1", "iss": iss.url, "aud": CLIENT, "token_use": "id", "exp": NOW + 3600,
         "iat": NOW - 10, "email_verified": True, "cognito:username": "alice",
         "auth_time": NOW - 10}
    c.update(kw)
    return c


def access_claims(iss: Issuer, /, **kw: Any) -> dict[str, Any]:
    c = {"sub": "u-1", "iss": iss.url, "client_id": CLIENT, "token_use": "access",
         "exp": NOW + 3600, "iat": NOW - 10, "scope": "pets/read openid"}
    c.update(kw)
    return c


def cognito(iss: Issuer, clock: FrozenClock, **kw: Any) -> JwtAuthorizer:
    cfg = JwtConfig(issuer=iss.url, audiences=(CLIENT,), algorithms=("RS256", "ES256"),
                    style="cognito", **kw)
    return JwtAuthorizer(cfg, JwksCache.for_issuer(iss.url, clock=clock), clock)


def httpapi(iss: Issuer, clock: FrozenClock) -> JwtAuthorizer:
    cfg = JwtConfig(issuer=iss.url, audiences=(CLIENT,), algorithms=("RS256",), style="jwt")
    return JwtAuthorizer(cfg, JwksCache(discovery_issuer=iss.url, clock=clock), clock)


@pytest.fixture
def clk() -> FrozenClock:
    return FrozenClock(NOW)


def test_valid_id_token_rsa_and_ec(issuer: Issuer, clk: FrozenClock) -> None:
    a = cognito(issuer, clk)
    for kid in ("k1", "e1"):
        out = a.authorize(issuer.sign(id_claims(issuer), kid))
        assert out.ok, out.reason
        assert out.principal == "u-1"
    assert issuer.hits == 1  # cached


def test_bearer_prefix_and_trace_masks_token(issuer: Issuer, clk: FrozenClock) -> None:
    tok = issuer.sign(id_claims(issuer), "k1")
    out = cognito(issuer, clk).authorize("Bearer " + tok)
    assert out.ok
    dumped = json.dumps([e.detail for e in out.trace], default=str)
    assert tok not in dumped and tok[:20] not in dumped
    assert out.trace[0].event == "authorizer.run"


@pytest.mark.parametrize(
    ("make", "scopes", "code"),
    [
        (lambda i: id_claims(i, exp=NOW - 1), (), "expired"),
        (lambda i: id_claims(i, nbf=NOW + 60), (), "not_yet_valid"),
        (lambda i: id_claims(i, iat=NOW + 60), (), "issued_in_future"),
        (lambda i: id_claims(i, aud="other-client"), (), "wrong_audience"),
        (lambda i: id_claims(i, iss="https://evil.example"), (), "wrong_issuer"),
        (lambda i: id_claims(i), ("pets/read",), "wrong_token_use"),
        (lambda i: access_claims(i), (), "wrong_token_use"),
        (lambda i: access_claims(i, client_id="x"), ("pets/read",), "wrong_audience"),
        (lambda i: access_claims(i), ("pets/write",), "insufficient_scope"),
        (lambda i: {k: v for k, v in id_claims(i).items() if k != "exp"}, (), "missing_exp"),
    ],
)
def test_claim_failures(issuer: Issuer, clk: FrozenClock, make: Any, scopes: tuple[str, ...],
                        code: str) -> None:
    out = cognito(issuer, clk).authorize(issuer.sign(make(issuer), "k1"), scopes)
    assert not out.ok
    assert (out.status, out.body(), out.error_type) == (
        401, {"message": "Unauthorized"}, "UnauthorizedException")
    assert out.reason_code == code, out.reason
    assert out.trace[-1].detail["code"] == code


def test_token_use_reason_names_both(issuer: Issuer, clk: FrozenClock) -> None:
    out = cognito(issuer, clk).authorize(issuer.sign(access_claims(issuer), "k1"))
    assert "expected an ID token (token_use=id)" in out.reason
    assert "an access token (token_use=access) was presented" in out.reason
    out = cognito(issuer, clk).authorize(issuer.sign(id_claims(issuer), "k1"), ["pets/read"])
    assert "expected an access token" in out.reason and "an ID token" in out.reason


def test_access_token_with_matching_scope(issuer: Issuer, clk: FrozenClock) -> None:
    out = cognito(issuer, clk).authorize(issuer.sign(access_claims(issuer), "k1"),
                                         ["pets/write", "pets/read"])
    assert out.ok and out.scopes == ("pets/read", "openid")
    scp = access_claims(issuer, scp=["a", "b"])
    del scp["scope"]
    assert cognito(issuer, clk).authorize(issuer.sign(scp, "k1"), ["b"]).ok


def test_leeway(issuer: Issuer, clk: FrozenClock) -> None:
    tok = issuer.sign(id_claims(issuer, exp=NOW - 30), "k1")
    assert cognito(issuer, clk, leeway=60).authorize(tok).ok
    assert cognito(issuer, clk, leeway=10).authorize(tok).reason_code == "expired"
    clk.advance(100)
    assert cognito(issuer, clk, leeway=60).authorize(tok).reason_code == "expired"


def test_alg_none_and_not_allowed(issuer: Issuer, clk: FrozenClock) -> None:
    none_tok = pyjwt.encode(id_claims(issuer), cast(Any, None), algorithm="none",
                            headers={"kid": "k1"})
    assert cognito(issuer, clk).authorize(none_tok).reason_code == "alg_none"
    ps = issuer.sign(id_claims(issuer), "k1", alg="PS256")
    assert cognito(issuer, clk).authorize(ps).reason_code == "alg_not_allowed"


def test_hs_rs_algorithm_confusion(issuer: Issuer, clk: FrozenClock) -> None:
    """The classic attack: HMAC-sign with the RSA public key's bytes. Two layers stop it."""
    secret = issuer.keys["k1"].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing_input = (b64(json.dumps({"alg": "HS256", "kid": "k1"}).encode()) + "."
                     + b64(json.dumps(id_claims(issuer)).encode()))
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    forged = signing_input + "." + b64(mac)
    # allow-list without HS256 -> refused before any key is touched
    assert cognito(issuer, clk).authorize(forged).reason_code == "alg_not_allowed"
    # even if an operator allow-lists HS256, an RSA key never verifies an HMAC
    cfg = JwtConfig(issuer=issuer.url, audiences=(CLIENT,), algorithms=("HS256",),
                    style="cognito")
    a = JwtAuthorizer(cfg, JwksCache.for_issuer(issuer.url, clock=clk), clk)
    out = a.authorize(forged)
    assert out.reason_code == "alg_key_mismatch" and "algorithm confusion" in out.reason


def test_es256_token_against_rsa_kid_is_confusion(issuer: Issuer, clk: FrozenClock) -> None:
    tok = pyjwt.encode(id_claims(issuer), issuer.keys["e1"], algorithm="ES256",
                       headers={"kid": "k1"})
    assert cognito(issuer, clk).authorize(tok).reason_code == "alg_key_mismatch"


def test_config_rejects_none_and_mixing() -> None:
    with pytest.raises(ValueError, match="none"):
        JwtConfig(issuer="x", audiences=("a",), algorithms=("none",))
    with pytest.raises(ValueError, match="mix"):
        JwtConfig(issuer="x", audiences=("a",), algorithms=("HS256", "RS256"))
    with pytest.raises(ValueError, match="allow-list"):
        JwtConfig(issuer="x", audiences=("a",), algorithms=())


def test_unknown_kid_refresh_is_bounded_then_rotation(issuer: Issuer, clk: FrozenClock) -> None:
    a = cognito(issuer, clk)
    assert a.authorize(issuer.sign(id_claims(issuer), "k1")).ok
    assert issuer.hits == 1
    tok2 = issuer.sign(id_claims(issuer), "k2")
    # unknown kid within the refresh interval: no fetch storm, refused with the reason
    for _ in range(5):
        out = a.authorize(tok2)
        assert out.reason_code == "unknown_kid"
    assert issuer.hits == 1
    assert any("rate-limited" in str(e.detail) for e in out.trace)
    # the issuer rotates k2 in; after the interval one refresh finds it
    issuer.published = ["k2", "k1"]
    clk.advance(61)
    assert a.authorize(tok2).ok
    assert issuer.hits == 2
    assert a.authorize(tok2).ok and issuer.hits == 2
    # k1 retired: still cached until max_age; a random kid cannot force a refetch
    junk = issuer.sign(id_claims(issuer), "k1", headers={"kid": "random"})
    assert a.authorize(junk).reason_code == "unknown_kid"
    assert issuer.hits == 2


def test_offline_jwks_file(tmp_path: Any, keys: Issuer, clk: FrozenClock) -> None:
    keys.published = ["k1"]
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(keys.jwks()))
    cfg = JwtConfig(issuer="https://issuer.invalid", audiences=(CLIENT,), style="cognito")
    a = JwtAuthorizer(cfg, JwksCache(file=path, clock=clk), clk)
    claims = id_claims(keys, iss="https://issuer.invalid")
    assert a.authorize(keys.sign(claims, "k1")).ok


def test_jwks_unreachable(clk: FrozenClock, keys: Issuer) -> None:
    cfg = JwtConfig(issuer="http://127.0.0.1:9", audiences=(CLIENT,), style="cognito")
    a = JwtAuthorizer(cfg, JwksCache.for_issuer("http://127.0.0.1:9", clock=clk, timeout=0.5),
                      clk)
    out = a.authorize(keys.sign(id_claims(keys, iss="http://127.0.0.1:9"), "k1"))
    assert out.reason_code in ("jwks_unavailable", "unknown_kid")


def test_http_api_style_discovery_and_www_authenticate(issuer: Issuer, clk: FrozenClock) -> None:
    a = httpapi(issuer, clk)
    claims = access_claims(issuer, aud=None)
    del claims["aud"]
    assert a.authorize(issuer.sign(claims, "k1"), ["pets/read"]).ok  # client_id fallback
    out = a.authorize(issuer.sign(id_claims(issuer, aud="nope"), "k1"))
    assert out.status == 401 and out.body() == {"message": "Unauthorized"}
    assert out.headers == (("www-authenticate",
                            'Bearer scope="" error="invalid_token" '
                            'error_description="the token does not have a valid audience"'),)
    assert a.authorize(None).reason_code == "missing_token"
    assert a.authorize("not-a-jwt").reason_code == "malformed_token"


def test_claim_shapes() -> None:
    claims = {"sub": "u", "exp": 1469818373, "iat": 1469814773, "auth_time": 1469814773,
              "email_verified": True, "cognito:groups": ["admin", "dev"], "n": 1.0}
    v1 = claims_v1(claims)["claims"]
    assert v1["exp"] == "Fri Jul 29 18:52:53 UTC 2016"
    assert v1["auth_time"] == "1469814773" and v1["email_verified"] == "true"
    assert v1["cognito:groups"] == "[admin dev]" and v1["n"] == "1"
    v2 = jwt_context_v2(claims, ["a"])["jwt"]
    assert v2["claims"]["exp"] == "1469818373" and v2["scopes"] == ["a"]
    assert jwt_context_v2(claims, [])["jwt"]["scopes"] is None


def test_config_from_openapi() -> None:
    rest = {"type": "apiKey", "name": "Authorization", "in": "header",
            "x-amazon-apigateway-authtype": "cognito_user_pools",
            "x-amazon-apigateway-authorizer": {
                "type": "cognito_user_pools",
                "providerARNs": [
                    "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_Ab"]}}
    cfg = config_from_openapi("pool", rest)
    assert cfg.issuer == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Ab"
    assert cfg.style == "cognito" and cfg.identity_header == "Authorization"
    http = {"x-amazon-apigateway-authorizer": {
        "type": "jwt", "identitySource": "$request.header.X-Token",
        "jwtConfiguration": {"issuer": "https://idp.example", "audience": ["a", "b"]}}}
    cfg = config_from_openapi("jwt", http)
    assert (cfg.issuer, cfg.audiences, cfg.identity_header) == (
        "https://idp.example", ("a", "b"), "X-Token")
    with pytest.raises(ValueError):
        cognito_issuer("arn:aws:iam::1:user/x")


def test_trace_levels(issuer: Issuer, clk: FrozenClock) -> None:
    ok = cognito(issuer, clk).authorize(issuer.sign(id_claims(issuer), "k1"))
    bad = cognito(issuer, clk).authorize("x.y.z")
    assert select(ok.trace, "errors", ok.ok) == [] and select(bad.trace, "errors", bad.ok)
    assert select(bad.trace, "off", bad.ok) == [] and select(ok.trace, "info", ok.ok)


def test_insufficient_scope_status_403_option(issuer: Issuer, clk: FrozenClock) -> None:
    cfg = JwtConfig(issuer=issuer.url, audiences=(CLIENT,), style="jwt",
                    insufficient_scope_status=403)
    a = JwtAuthorizer(cfg, JwksCache.for_issuer(issuer.url, clock=clk), clk)
    out = a.authorize(issuer.sign(access_claims(issuer), "k1"), ["pets/write"])
    assert (out.status, out.body(), out.reason_code) == (
        403, {"message": "Forbidden"}, "insufficient_scope")
    assert 'error="insufficient_scope"' in out.headers[0][1]


def test_cognito_identity_validation_expression_matches_the_whole_aud(
        issuer: Issuer, clk: FrozenClock) -> None:
    """API Gateway matches a COGNITO_USER_POOLS authorizer's identityValidationExpression
    against the token's aud and answers 401 otherwise: an access token (no aud) fails it."""
    a = cognito(issuer, clk, aud_expression="client-[0-9]+|" + CLIENT)
    assert a.authorize(issuer.sign(id_claims(issuer), "k1")).ok
    for claims, scopes in ((id_claims(issuer, aud=CLIENT + "-suffix"), ()),
                           (access_claims(issuer), ("pets/read",))):
        out = a.authorize(issuer.sign(claims, "k1"), scopes)
        assert (out.status, out.body(), out.reason_code) == (
            401, {"message": "Unauthorized"}, "identity_invalid")
    # without the expression the same access token is fine
    assert cognito(issuer, clk).authorize(issuer.sign(access_claims(issuer), "k1"),
                                          ["pets/read"]).ok


def test_identity_validation_expression_config() -> None:
    scheme = {"type": "apiKey", "name": "Authorization", "in": "header",
              "x-amazon-apigateway-authorizer": {
                  "type": "cognito_user_pools", "identityValidationExpression": "abc.*",
                  "providerARNs": [
                      "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_Ab"]}}
    assert config_from_openapi("pool", scheme).aud_expression == "abc.*"
    scheme["x-amazon-apigateway-authorizer"]["identityValidationExpression"] = "("
    with pytest.raises(ValueError, match="does not compile"):
        config_from_openapi("pool", scheme)
    with pytest.raises(ValueError, match="Cognito"):
        JwtConfig(issuer="https://i", audiences=("a",), style="jwt", aud_expression="a")
