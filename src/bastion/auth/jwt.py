"""JWT / OIDC verification for REST ``COGNITO_USER_POOLS`` and HTTP-API ``JWT`` authorizers.

Signature checking is PyJWT + cryptography; this module decides *which* key may check *which*
algorithm and what the claims must say. Rules, in order (each failure is a 401 with its own
``reason_code`` for the trace):

* compact serialization only, strict base64url (no padding, no stray characters);
* the header ``alg`` must be in the allow-list given at construction (``none`` can never be in
  it); ``jwk``/``jku``/``x5u`` in the header are ignored, ``crit`` and ``b64`` are refused;
* the key is found by ``kid`` (unknown -> one bounded JWKS refresh), and its type must match the
  algorithm family (``oct`` for HS*, ``RSA`` for RS*/PS*, ``EC`` with the right curve for ES*,
  ``OKP`` for EdDSA), its ``alg`` (if any) must equal the token's, ``use``/``key_ops`` must allow
  verification: HS/RS confusion is impossible by construction;
* claims: ``iss``; ``exp`` (required) / ``nbf`` / ``iat`` with leeway on the injected clock;
  Cognito: ``token_use`` (``id`` when the method has no scopes, ``access`` when it has), the
  authorizer's ``identityValidationExpression`` against the whole ``aud`` (API Gateway's rule; an
  access token has no ``aud`` and fails it), then ``aud`` (ID token) or ``client_id`` (access
  token) against the app client ids; HTTP API: ``aud`` or else ``client_id``;
  scopes (``scope`` space-separated or ``scp``) must meet at least one method scope.

Semantics: gateway-semantics.md §7.1 and §1.5 (AGW:apigateway-enable-cognito-user-pool,
AGW:http-api-jwt-authorizer, COG:amazon-cognito-user-pools-using-tokens-verifying-a-jwt).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeGuard

import jwt as pyjwt

from bastion.auth.jwks import JwkKey, JwksCache
from bastion.auth.outcome import AuthOutcome, allowed, forbidden, unauthorized
from bastion.auth.trace import Tracer, mask
from bastion.clock import Clock, SystemClock

__all__ = [
    "JwsResult",
    "JwtAuthorizer",
    "JwtConfig",
    "claims_v1",
    "cognito_issuer",
    "config_from_openapi",
    "jwt_context_v2",
    "token_scopes",
    "verify_jws",
]

Style = Literal["cognito", "jwt"]

_HMAC = frozenset({"HS256", "HS384", "HS512"})
_RSA = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_EC_CURVE = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521", "ES256K": "secp256k1"}
_OKP = frozenset({"EdDSA"})
KNOWN_ALGORITHMS = _HMAC | _RSA | frozenset(_EC_CURVE) | _OKP
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
MAX_TOKEN_BYTES = 16 * 1024


def _family_ok(alg: str, key: JwkKey) -> bool:
    if alg in _HMAC:
        return key.kty == "oct"
    if alg in _RSA:
        return key.kty == "RSA"
    if alg in _EC_CURVE:
        return key.kty == "EC" and key.crv == _EC_CURVE[alg]
    if alg in _OKP:
        return key.kty == "OKP"
    return False


def _b64decode(seg: str) -> bytes:
    if not _B64URL.fullmatch(seg) or len(seg) % 4 == 1:
        raise ValueError("not strict base64url")
    return base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4))


@dataclass(frozen=True, slots=True)
class JwsResult:
    """The signature layer's verdict: ``payload`` when ok, else ``code`` + ``reason``."""

    ok: bool
    code: str = "ok"
    reason: str = ""
    header: Mapping[str, Any] = field(default_factory=dict)
    payload: bytes = b""
    kid: str | None = None


def _bad(code: str, reason: str, header: Mapping[str, Any] | None = None) -> JwsResult:
    return JwsResult(False, code, reason, header or {})


def verify_jws(
    token: str, algorithms: Sequence[str], jwks: JwksCache, notes: list[str] | None = None,
) -> JwsResult:
    """Verify a compact JWS with ``jwks`` and the allow-list ``algorithms`` (never the header)."""
    notes = notes if notes is not None else []
    if len(token) > MAX_TOKEN_BYTES:
        return _bad("malformed_token", f"token longer than {MAX_TOKEN_BYTES} bytes")
    parts = token.split(".")
    if len(parts) != 3:
        return _bad("malformed_token", f"compact JWS needs 3 parts, got {len(parts)}")
    h64, p64, s64 = parts
    try:
        header = json.loads(_b64decode(h64))
        _b64decode(p64)
        sig = _b64decode(s64)
    except (ValueError, binascii.Error):
        return _bad("malformed_token", "header, payload or signature is not strict base64url/JSON")
    if not isinstance(header, dict):
        return _bad("malformed_token", "JOSE header is not a JSON object")
    alg = header.get("alg")
    if not isinstance(alg, str):
        return _bad("malformed_token", "JOSE header has no string 'alg'", header)
    if alg.lower() == "none":
        return _bad("alg_none", "alg 'none' (unsigned token) is never accepted", header)
    if alg not in algorithms:
        return _bad("alg_not_allowed",
                    f"alg {alg} is not in the allow-list {sorted(algorithms)}", header)
    if "crit" in header or header.get("b64", True) is not True:
        return _bad("unsupported_header", "'crit'/'b64' header parameters are not supported",
                    header)
    if not sig:
        return _bad("bad_signature", "empty signature", header)
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        return _bad("malformed_token", "'kid' is not a string", header)
    keyset, key, lookup_notes = jwks.lookup(kid)
    notes.extend(lookup_notes)
    if keyset is None:
        return _bad("jwks_unavailable", f"no key set from {jwks.source}", header)
    if kid is None:
        candidates = [k for k in keyset.keys if _family_ok(alg, k)]
        if len(candidates) != 1:
            return _bad("missing_kid", f"token has no 'kid' and {len(candidates)} keys fit {alg}",
                        header)
        key = candidates[0]
    elif key is None:
        return JwsResult(False, "unknown_kid",
                         f"kid {kid!r} is not in the JWKS (known: {keyset.kids()})", header,
                         kid=kid)
    if not _family_ok(alg, key):
        return _bad("alg_key_mismatch",
                    f"alg {alg} cannot be verified with a {key.kty}"
                    f"{'/' + key.crv if key.crv else ''} key (algorithm confusion)", header)
    if key.alg is not None and key.alg != alg:
        return _bad("alg_key_mismatch", f"key {key.kid!r} is pinned to {key.alg}, token says {alg}",
                    header)
    if alg in _HMAC and len(key.key) < int(alg[2:]) // 8:
        return _bad("weak_key", f"{alg} needs a key of at least {int(alg[2:]) // 8} bytes "
                    "(RFC 7518 3.2)", header)
    if key.use is not None and key.use != "sig":
        return _bad("key_use", f"key {key.kid!r} has use={key.use!r}, not 'sig'", header)
    if key.key_ops is not None and "verify" not in key.key_ops:
        return _bad("key_ops", f"key {key.kid!r} key_ops {list(key.key_ops)} lack 'verify'",
                    header)
    try:
        decoded = pyjwt.PyJWS().decode_complete(token, key=key.key, algorithms=[alg])
    except pyjwt.InvalidSignatureError:
        return _bad("bad_signature", "signature does not verify", header)
    except (pyjwt.PyJWTError, ValueError, TypeError) as e:
        return _bad("malformed_token", f"PyJWT refused the token: {type(e).__name__}", header)
    return JwsResult(True, header=header, payload=decoded["payload"], kid=key.kid)


def token_scopes(claims: Mapping[str, Any]) -> tuple[str, ...]:
    """Scopes from ``scope`` (space-separated) or ``scp`` (list or space-separated)."""
    for name in ("scope", "scp"):
        v = claims.get(name)
        if isinstance(v, str):
            return tuple(s for s in v.split(" ") if s)
        if isinstance(v, list):
            return tuple(str(s) for s in v)
    return ()


@dataclass(frozen=True, slots=True)
class JwtConfig:
    """One JWT authorizer. ``audiences`` are app client ids / audiences (empty: not checked,
    Cognito only). ``style`` ``cognito`` enforces ``token_use``; ``jwt`` is the HTTP-API one.

    ``insufficient_scope_status``: AWS documents 401 for REST Cognito scope failures; its newer
    REST JWT authorizer documents 403 Forbidden, and HTTP APIs are unverified [inf]; 401 by
    default, 403 (``{"message":"Forbidden"}``) selectable. HTTP APIs accept only RSA algorithms
    on AWS; Bastion lets the allow-list decide."""

    issuer: str
    audiences: tuple[str, ...] = ()
    algorithms: tuple[str, ...] = ("RS256",)
    style: Style = "jwt"
    leeway: float = 0.0
    name: str = "jwt"
    identity_header: str = "Authorization"
    insufficient_scope_status: Literal[401, 403] = 401
    # Cognito's identityValidationExpression: the token's aud must match it whole (an access
    # token, which has no aud, never does); None: not checked
    aud_expression: str | None = None

    def __post_init__(self) -> None:
        if self.aud_expression is not None:
            if self.style != "cognito":
                raise ValueError("identityValidationExpression applies to Cognito authorizers")
            try:
                re.compile(self.aud_expression)
            except re.error as e:
                raise ValueError(f"identityValidationExpression does not compile: {e}") from None
        if not self.algorithms:
            raise ValueError("a JWT authorizer needs an explicit algorithm allow-list")
        bad = [a for a in self.algorithms if a not in KNOWN_ALGORITHMS]
        if bad:
            raise ValueError(f"unsupported or forbidden JWT algorithms: {bad} ('none' never)")
        if set(self.algorithms) & _HMAC and set(self.algorithms) - _HMAC:
            raise ValueError("do not mix HMAC and public-key algorithms in one allow-list")
        if self.style == "jwt" and not self.audiences:
            raise ValueError("an HTTP-API JWT authorizer needs at least one audience")
        if len(self.audiences) > 50:
            raise ValueError("at most 50 audiences")
        if self.leeway < 0 or self.leeway > 300:
            raise ValueError("leeway must be within 0..300 seconds")


def cognito_issuer(provider_arn: str) -> str:
    """``arn:aws:cognito-idp:{region}:{acct}:userpool/{poolId}`` -> the pool's ``iss``."""
    parts = provider_arn.split(":")
    if len(parts) != 6 or parts[2] != "cognito-idp" or not parts[5].startswith("userpool/"):
        raise ValueError(f"not a Cognito user pool ARN: {provider_arn!r}")
    return f"https://cognito-idp.{parts[3]}.amazonaws.com/{parts[5].split('/', 1)[1]}"


def config_from_openapi(name: str, scheme: Mapping[str, Any], *,
                        algorithms: tuple[str, ...] = ("RS256",),
                        leeway: float = 0.0) -> JwtConfig:
    """A ``JwtConfig`` from an OpenAPI security scheme carrying ``x-amazon-apigateway-authorizer``
    of type ``cognito_user_pools`` (REST) or ``jwt`` (HTTP API). ``x-bastion-issuer`` overrides
    the issuer (a local IdP standing in for Cognito); ``x-bastion-audiences`` sets REST app
    client ids to check."""
    ext = scheme.get("x-amazon-apigateway-authorizer")
    if not isinstance(ext, Mapping):
        raise ValueError(f"{name}: no x-amazon-apigateway-authorizer")
    kind = str(ext.get("type", "")).lower()
    override = scheme.get("x-bastion-issuer") or ext.get("x-bastion-issuer")
    if kind == "cognito_user_pools":
        arns = ext.get("providerARNs") or []
        issuer = override or (cognito_issuer(arns[0]) if arns else None)
        if not issuer:
            raise ValueError(f"{name}: cognito_user_pools authorizer without providerARNs")
        auds = tuple(scheme.get("x-bastion-audiences") or ext.get("x-bastion-audiences") or ())
        expression = ext.get("identityValidationExpression")
        return JwtConfig(issuer=str(issuer), audiences=auds, algorithms=algorithms,
                         style="cognito", leeway=leeway, name=name,
                         identity_header=str(scheme.get("name", "Authorization")),
                         aud_expression=str(expression) if expression else None)
    if kind == "jwt":
        jc = ext.get("jwtConfiguration") or {}
        src = ext.get("identitySource") or "$request.header.Authorization"
        src = src[0] if isinstance(src, list) else str(src)
        if not src.lower().startswith("$request.header."):
            raise ValueError(f"{name}: JWT identitySource must be a header, not {src!r}")
        return JwtConfig(issuer=str(override or jc.get("issuer", "")),
                         audiences=tuple(jc.get("audience") or ()), algorithms=algorithms,
                         style="jwt", leeway=leeway, name=name,
                         identity_header=src.split(".", 2)[2])
    raise ValueError(f"{name}: authorizer type {kind!r} is not a JWT authorizer")


def _www_authenticate(code: str, description: str) -> tuple[tuple[str, str], ...]:
    err = "insufficient_scope" if code == "insufficient_scope" else "invalid_token"
    desc = description.replace('"', "'")
    return (("www-authenticate", f'Bearer scope="" error="{err}" error_description="{desc}"'),)


class JwtAuthorizer:
    """Verifies bearer tokens for one issuer; ``authorize`` returns an ``AuthOutcome``."""

    def __init__(self, config: JwtConfig, jwks: JwksCache, clock: Clock | None = None) -> None:
        self.config = config
        self.jwks = jwks
        self.clock = clock or SystemClock()

    async def authorize_async(
        self, token: str | None, scopes: Sequence[str] = ()
    ) -> AuthOutcome:
        """``authorize`` off the event loop (a JWKS fetch may block up to its timeout)."""
        return await asyncio.to_thread(self.authorize, token, scopes)

    def authorize(self, token: str | None, scopes: Sequence[str] = ()) -> AuthOutcome:
        """Check ``token`` (an ``Authorization`` value, ``Bearer `` optional) for a method whose
        ``authorizationScopes`` are ``scopes``."""
        tr = Tracer(f"auth.{self.config.name}")
        tr.add("authorizer.run", type=self.config.style, issuer=self.config.issuer,
               token=mask(token), method_scopes=list(scopes))
        outcome = self._authorize(token, tuple(scopes), tr)
        if outcome.ok:
            tr.add("decision", allow=True, principal=outcome.principal)
        else:
            tr.add("decision", allow=False, code=outcome.reason_code, reason=outcome.reason)
        return outcome.with_trace(tr.events)

    def _fail(self, code: str, reason: str) -> AuthOutcome:
        headers = _www_authenticate(code, reason) if self.config.style == "jwt" else ()
        if code == "insufficient_scope" and self.config.insufficient_scope_status == 403:
            return replace(forbidden(code, reason, response_type="ACCESS_DENIED"),
                           headers=headers)
        return unauthorized(code, reason, headers=headers)

    def _authorize(self, token: str | None, scopes: tuple[str, ...], tr: Tracer) -> AuthOutcome:
        cfg = self.config
        if token is None or not token.strip():
            return self._fail("missing_token", "no token in the identity source")
        token = token.strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        notes: list[str] = []
        res = verify_jws(token, cfg.algorithms, self.jwks, notes)
        for n in notes:
            tr.add("jwks", note=n, source=self.jwks.source)
        if not res.ok:
            return self._fail(res.code, res.reason)
        try:
            claims = json.loads(res.payload)
        except ValueError:
            return self._fail("malformed_claims", "payload is not JSON")
        if not isinstance(claims, dict):
            return self._fail("malformed_claims", "payload is not a JSON object")
        bad = self._check_claims(claims, scopes)
        if bad is not None:
            return self._fail(*bad)
        have = token_scopes(claims)
        principal = claims.get("sub") if isinstance(claims.get("sub"), str) else None
        return allowed(principal=principal, claims=claims, scopes=have)

    def _check_claims(
        self, claims: dict[str, Any], scopes: tuple[str, ...]
    ) -> tuple[str, str] | None:
        cfg = self.config
        now = self.clock.time()
        lw = cfg.leeway
        if claims.get("iss") != cfg.issuer:
            return "wrong_issuer", f"iss {claims.get('iss')!r} is not {cfg.issuer!r}"
        exp = claims.get("exp")
        if not _is_number(exp):
            return "missing_exp", "the token has no numeric 'exp'"
        if now > float(exp) + lw:
            return "expired", f"the token expired at {_iso(float(exp))} (now {_iso(now)}, " \
                              f"leeway {lw:g}s)"
        nbf = claims.get("nbf")
        if nbf is not None and (not _is_number(nbf) or now + lw < float(nbf)):
            return "not_yet_valid", f"the token is not valid before {nbf!r}"
        iat = claims.get("iat")
        if iat is not None and (not _is_number(iat) or float(iat) > now + lw):
            return "issued_in_future", f"the token's iat {iat!r} is in the future"
        if cfg.style == "cognito":
            expected = "access" if scopes else "id"
            use = claims.get("token_use")
            if use != expected:
                why = ("the method has authorizationScopes" if scopes
                       else "the method has no authorizationScopes")
                return "wrong_token_use", (
                    f"expected {_use_name(expected)} (token_use={expected}) because {why}, "
                    f"but {_use_name(use)} (token_use={use}) was presented")
            rx = cfg.aud_expression
            if rx is not None and not _aud_fullmatch(claims.get("aud"), rx):
                # API Gateway matches the token's aud against the authorizer's
                # identityValidationExpression and answers 401 when it does not match
                return "identity_invalid", (
                    f"aud {claims.get('aud')!r} does not match identityValidationExpression")
            if cfg.audiences:
                claim = "aud" if expected == "id" else "client_id"
                if not _aud_match(claims.get(claim), cfg.audiences):
                    return "wrong_audience", (
                        f"{claim} {claims.get(claim)!r} is not an allowed app client id")
        else:
            aud = claims.get("aud")
            if aud is not None:
                ok = _aud_match(aud, cfg.audiences)
            else:
                ok = _aud_match(claims.get("client_id"), cfg.audiences)
            if not ok:
                return "wrong_audience", "the token does not have a valid audience"
        if scopes:
            have = token_scopes(claims)
            if not set(have) & set(scopes):
                return "insufficient_scope", (
                    f"the token's scopes {list(have)} meet none of {list(scopes)}")
        return None


def _use_name(use: object) -> str:
    return {"id": "an ID token", "access": "an access token"}.get(str(use), "a token")


def _is_number(v: object) -> TypeGuard[int | float]:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _aud_fullmatch(value: object, expression: str) -> bool:
    if isinstance(value, str):
        return re.fullmatch(expression, value) is not None
    if isinstance(value, list):
        return any(isinstance(v, str) and re.fullmatch(expression, v) for v in value)
    return False


def _aud_match(value: object, allowed_auds: tuple[str, ...]) -> bool:
    if isinstance(value, str):
        return value in allowed_auds
    if isinstance(value, list):
        return any(isinstance(v, str) and v in allowed_auds for v in value)
    return False


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


_DATE_CLAIMS = frozenset({"exp", "iat"})


def _stringify(name: str, v: Any, *, dates: bool) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if dates and name in _DATE_CLAIMS and _is_number(v):
        # REST Cognito renders exp/iat as Java Date strings: "Fri Jul 29 18:52:53 UTC 2016"
        return time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(float(v)))
    if isinstance(v, str):
        return v
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, list):
        return "[" + " ".join(_stringify(name, x, dates=False) for x in v) + "]"
    if isinstance(v, int | float):
        return str(v)
    return json.dumps(v, separators=(",", ":"), sort_keys=True)


def claims_v1(claims: Mapping[str, Any]) -> dict[str, Any]:
    """``requestContext.authorizer`` for REST (v1): ``{"claims": {...}}``, every value a string.

    Observed on AWS (amazon-cognito-identity-js#92, awsdocs guide#158): numbers become decimal
    strings, booleans ``"true"``/``"false"``, and ``exp``/``iat`` Java date strings. Lists are
    rendered ``[a b]`` [inf].
    """
    return {"claims": {k: _stringify(k, v, dates=True) for k, v in claims.items()}}


def jwt_context_v2(claims: Mapping[str, Any], scopes: Sequence[str]) -> dict[str, Any]:
    """``requestContext.authorizer`` for HTTP API (v2): ``{"jwt": {"claims", "scopes"}}``.

    Claims are strings (numbers as decimal text, lists as ``[a b]`` [inf]). ``scopes``: pass the
    token's scopes when the route has ``authorizationScopes``; AWS sends ``null`` for routes
    without scopes (aws/aws-lambda-go#317), which an empty ``scopes`` produces.
    """
    return {"jwt": {
        "claims": {k: _stringify(k, v, dates=False) for k, v in claims.items()},
        "scopes": list(scopes) if scopes else None,
    }}
