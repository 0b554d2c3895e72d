"""Both SigV4 suites, header and presigned forms, signer and verifier: 100% must pass."""

from __future__ import annotations

import pytest

from bastion.auth.secret import Secret
from bastion.auth.sigv4 import (
    Credentials,
    ResolvedKey,
    SigningOptions,
    SigV4Verifier,
    StaticKeys,
    VerifierOptions,
    presign_url,
    sign_request,
)
from bastion.clock import FrozenClock

from .vectors import (
    ACCESS_KEY,
    NOW,
    SECRET,
    CCase,
    LegacyCase,
    c_auth_cases,
    legacy_cases,
    parse_request,
)

C_CASES = c_auth_cases()
LEGACY = legacy_cases()


def test_suites_are_complete() -> None:
    assert len(C_CASES) == 38
    assert len(LEGACY) == 34


def _verifier(token: str | None, normalize: bool = True) -> SigV4Verifier:
    key = ResolvedKey(ACCESS_KEY, Secret(SECRET), principal="example",
                      session_token=Secret(token) if token else None)
    return SigV4Verifier(
        StaticKeys([key]), FrozenClock(NOW),
        VerifierOptions(regions=("us-east-1",), service="service", normalize_path=normalize),
    )


def _options(case: CCase) -> SigningOptions:
    return SigningOptions(
        normalize_path=bool(case.context["normalize"]),
        sign_payload_header=bool(case.context["sign_body"]),
        omit_session_token=bool(case.context.get("omit_session_token", False)),
    )


@pytest.mark.parametrize("case", C_CASES, ids=lambda c: c.name)
def test_c_auth_header_signer(case: CCase) -> None:
    req = parse_request(case.read("request.txt"))
    creds = Credentials.of(ACCESS_KEY, SECRET, case.token)
    signed = sign_request(req.method, req.url, req.headers, req.body, creds, "us-east-1",
                          "service", NOW, _options(case))
    assert signed.canonical_request == case.read("header-canonical-request.txt")
    assert signed.string_to_sign == case.read("header-string-to-sign.txt")
    assert signed.signature == case.read("header-signature.txt").strip()


@pytest.mark.parametrize("case", C_CASES, ids=lambda c: c.name)
def test_c_auth_query_signer(case: CCase) -> None:
    req = parse_request(case.read("request.txt"))
    creds = Credentials.of(ACCESS_KEY, SECRET, case.token)
    headers = [(n, v) for n, v in req.headers if n.lower() != "content-length"] if not (
        case.context["sign_body"]) else req.headers
    signed = presign_url(req.method, req.url, headers, req.body, creds, "us-east-1", "service",
                         NOW, expires=3600, options=_options(case))
    assert signed.canonical_request == case.read("query-canonical-request.txt")
    assert signed.string_to_sign == case.read("query-string-to-sign.txt")
    assert signed.signature == case.read("query-signature.txt").strip()


@pytest.mark.parametrize("form", ["header", "query"])
@pytest.mark.parametrize("case", C_CASES, ids=lambda c: c.name)
def test_c_auth_verifier(case: CCase, form: str) -> None:
    req = parse_request(case.read(f"{form}-signed-request.txt"))
    verifier = _verifier(case.token, normalize=bool(case.context["normalize"]))
    result = verifier.verify(req.method, req.path, req.query, req.headers, req.body)
    assert result.ok, getattr(result, "message", "")
    assert result.access_key == ACCESS_KEY
    assert result.presigned is (form == "query")


@pytest.mark.parametrize("form", ["header", "query"])
@pytest.mark.parametrize("case", C_CASES, ids=lambda c: c.name)
def test_c_auth_verifier_rejects_flipped_signature(case: CCase, form: str) -> None:
    text = case.read(f"{form}-signed-request.txt")
    good = case.read(f"{form}-signature.txt").strip()
    bad = ("0" if good[0] != "0" else "1") + good[1:]
    req = parse_request(text.replace(good, bad))
    result = _verifier(case.token, bool(case.context["normalize"])).verify(
        req.method, req.path, req.query, req.headers, req.body)
    assert not result.ok
    assert result.error_type == "InvalidSignatureException"
    assert result.reason == "signature_mismatch"
    expected_creq = case.read(f"{form}-canonical-request.txt")
    if not case.context.get("omit_session_token"):
        assert f"'{expected_creq}'" in result.message
    assert f"'{case.read(f'{form}-string-to-sign.txt')}'" in result.message or (
        case.context.get("omit_session_token"))


def _legacy_token(case: LegacyCase) -> str | None:
    sreq = parse_request(case.read("sreq"))
    return sreq.header("x-amz-security-token")


@pytest.mark.parametrize("case", LEGACY, ids=lambda c: c.name)
def test_legacy_signer(case: LegacyCase) -> None:
    req = parse_request(case.read("req"))
    token = _legacy_token(case)
    authz = case.read("authz").strip()
    omit = token is not None and "x-amz-security-token" not in authz
    creds = Credentials.of(ACCESS_KEY, SECRET, token)
    signed = sign_request(req.method, req.url, req.headers, req.body, creds, "us-east-1",
                          "service", NOW, SigningOptions(omit_session_token=omit))
    assert signed.canonical_request == case.read("creq")
    assert signed.string_to_sign == case.read("sts")
    assert dict(signed.headers)["Authorization"] == authz


@pytest.mark.parametrize("case", LEGACY, ids=lambda c: c.name)
def test_legacy_verifier(case: LegacyCase) -> None:
    """Verify ``.req`` + token + ``.authz`` (the ``.sreq`` of get-vanilla-with-session-token
    carries the wrong signature — the suite's known erratum — so ``.authz`` is the truth)."""
    req = parse_request(case.read("req"))
    token = _legacy_token(case)
    headers = list(req.headers)
    if token is not None and req.header("x-amz-security-token") is None:
        headers.append(("X-Amz-Security-Token", token))
    headers.append(("Authorization", case.read("authz").strip()))
    result = _verifier(token).verify(req.method, req.path, req.query, headers, req.body)
    assert result.ok, getattr(result, "message", "")


def test_legacy_sreq_erratum_is_really_wrong() -> None:
    case = next(c for c in LEGACY if c.name == "get-vanilla-with-session-token")
    req = parse_request(case.read("sreq"))
    result = _verifier(_legacy_token(case)).verify(req.method, req.path, req.query,
                                                   req.headers, req.body)
    assert not result.ok and result.reason == "signature_mismatch"
