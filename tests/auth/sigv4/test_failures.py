"""Malformed and missing signatures: IncompleteSignatureException and Missing Authentication
Token texts as API Gateway sends them (gateway-semantics §1.3)."""

from __future__ import annotations

import pytest

from bastion.auth.secret import Secret
from bastion.auth.sigv4 import (
    Credentials,
    ResolvedKey,
    SigV4Failure,
    SigV4Verifier,
    StaticKeys,
    VerifierOptions,
    sign_headers,
)
from bastion.clock import FrozenClock

NOW = 1_700_000_000.0
HOST = [("Host", "api.example.com"), ("X-Amz-Date", "20231114T221320Z")]


def _verify(headers: list[tuple[str, str]], query: str = "") -> SigV4Failure:
    verifier = SigV4Verifier(StaticKeys([ResolvedKey("AK", Secret("SK"))]), FrozenClock(NOW))
    result = verifier.verify("GET", "/prod/pets", query, headers, b"")
    assert isinstance(result, SigV4Failure)
    assert result.status == 403
    return result


def test_unsigned_request_is_missing_authentication_token() -> None:
    result = _verify([("Host", "api.example.com")])
    assert (result.error_type, result.message) == (
        "MissingAuthenticationTokenException", "Missing Authentication Token")
    assert result.body() == {"message": "Missing Authentication Token"}
    assert result.headers() == [("x-amzn-ErrorType", "MissingAuthenticationTokenException")]
    assert result.gateway_response == "MISSING_AUTHENTICATION_TOKEN"


@pytest.mark.parametrize(("auth", "message"), [
    ("Bearer x", "'x' not a valid key=value pair (missing equal-sign) in Authorization header: "
                 "'Bearer x'."),
    ("Bearer eyJhbGciOi.eyJzdWIi.sig",
     "'eyJhbGciOi.eyJzdWIi.sig' not a valid key=value pair (missing equal-sign) in "
     "Authorization header: 'Bearer eyJhbGciOi.eyJzdWIi.sig'."),
    ("AWS4-HMAC-SHA256 Credential=AKIAX /20231114/us-east-1/execute-api/aws4_request, "
     "SignedHeaders=host;x-amz-date, Signature=00",
     "'/20231114/us-east-1/execute-api/aws4_request' not a valid key=value pair (missing "
     "equal-sign) in Authorization header: 'AWS4-HMAC-SHA256 Credential=AKIAX "
     "/20231114/us-east-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, "
     "Signature=00'."),
    ("eyJ0eXAi", "Authorization header requires 'Credential' parameter. Authorization header "
                 "requires 'Signature' parameter. Authorization header requires 'SignedHeaders' "
                 "parameter. Authorization=eyJ0eXAi"),
    ("AWS4-HMAC-SHA256 Credential=AK/20231114/us-east-1/execute-api/aws4_request",
     "Authorization header requires 'Signature' parameter. Authorization header requires "
     "'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256 "
     "Credential=AK/20231114/us-east-1/execute-api/aws4_request"),
    ("AWS4-HMAC-SHA256 Credential=AK/20231114/execute-api/aws4_request, SignedHeaders=host, "
     "Signature=00",
     "Credential must have exactly 5 slash-delimited elements, e.g. "
     "keyid/date/region/service/term, got 'AK/20231114/execute-api/aws4_request'"),
    ("AWS4-HMAC-SHA256 Credential=AK/20231114/us-east-1/execute-api/aws4_request, "
     "SignedHeaders=x-amz-date, Signature=00",
     "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."),
])
def test_malformed_authorization(auth: str, message: str) -> None:
    result = _verify([*HOST, ("Authorization", auth)])
    assert (result.error_type, result.message) == ("IncompleteSignatureException", message)
    assert result.gateway_response == "INVALID_SIGNATURE"


def test_missing_date_header() -> None:
    auth = ("AWS4-HMAC-SHA256 Credential=AK/20231114/us-east-1/execute-api/aws4_request, "
            "SignedHeaders=host, Signature=00")
    result = _verify([("Host", "h"), ("Authorization", auth)])
    assert result.message == (
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
        f"Authorization={auth}")


def test_malformed_date() -> None:
    auth = ("AWS4-HMAC-SHA256 Credential=AK/20231114/us-east-1/execute-api/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=00")
    result = _verify([("Host", "h"), ("X-Amz-Date", "2023-11-14"), ("Authorization", auth)])
    assert result.error_type == "IncompleteSignatureException"
    assert result.message.startswith("Date must be in ISO-8601 'basic format'. Got '2023-11-14'.")


def test_presigned_missing_parameters() -> None:
    result = _verify([("Host", "h")], "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00")
    assert result.error_type == "IncompleteSignatureException"
    assert result.message == (
        "AWS query-string parameters must include 'X-Amz-Credential'. AWS query-string "
        "parameters must include 'X-Amz-Date'. AWS query-string parameters must include "
        "'X-Amz-SignedHeaders'. AWS query-string parameters must include 'X-Amz-Expires'. "
        "Re-examine the query-string parameters.")


def test_presigned_expires_bounded() -> None:
    query = ("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20231114%2Fus-east-1%2F"
             "execute-api%2Faws4_request&X-Amz-Date=20231114T221320Z&X-Amz-Expires=604801&"
             "X-Amz-SignedHeaders=host&X-Amz-Signature=00")
    result = _verify([("Host", "h")], query)
    assert result.message == ("X-Amz-Expires must be less than a week (in seconds) that is "
                              "604800")


def test_date_header_instead_of_x_amz_date() -> None:
    creds = Credentials.of("AK", "SK")
    headers = sign_headers("GET", "https://api.example.com/prod/pets", [], b"", creds,
                           "us-east-1", "execute-api", NOW)
    swapped = [("Date", "Tue, 14 Nov 2023 22:13:20 GMT") if n == "X-Amz-Date" else (n, v)
               for n, v in headers]
    swapped = [(n, v.replace("x-amz-date", "date")) if n == "Authorization" else (n, v)
               for n, v in swapped]
    verifier = SigV4Verifier(StaticKeys([ResolvedKey("AK", Secret("SK"))]), FrozenClock(NOW),
                             VerifierOptions())
    result = verifier.verify("GET", "/prod/pets", "", swapped, b"")
    # The signature covered x-amz-date, so renaming the header breaks it: a mismatch, not a crash.
    assert not result.ok and result.reason == "signature_mismatch"


def test_secret_never_in_failure_text() -> None:
    creds = Credentials.of("AK", "SK-very-secret")
    headers = sign_headers("GET", "https://api.example.com/prod/pets", [], b"", creds,
                           "us-east-1", "execute-api", NOW)
    verifier = SigV4Verifier(StaticKeys([ResolvedKey("AK", Secret("SK-other"))]),
                             FrozenClock(NOW))
    result = verifier.verify("GET", "/prod/pets", "", headers, b"")
    assert not result.ok
    assert "SK-" not in result.message
    assert "SK-very-secret" not in repr(creds)


def test_date_header_form_verifies() -> None:
    """A request dated by ``Date`` (no X-Amz-Date) signs the ISO form of that date."""
    from bastion.auth.sigv4 import (
        CanonicalRequest,
        canonical_headers,
        derive_signing_key,
        string_to_sign,
    )
    from bastion.auth.sigv4._canonical import EMPTY_SHA256, sign_string

    headers = [("Host", "api.example.com"), ("Date", "Tue, 14 Nov 2023 22:13:20 GMT")]
    signed = ["date", "host"]
    creq = CanonicalRequest("GET", "/prod/pets", "", canonical_headers(headers, signed),
                            "date;host", EMPTY_SHA256).text
    sts = string_to_sign("20231114T221320Z", "20231114/us-east-1/execute-api/aws4_request", creq)
    sig = sign_string(derive_signing_key("SK", "20231114", "us-east-1", "execute-api"), sts)
    auth = ("AWS4-HMAC-SHA256 Credential=AK/20231114/us-east-1/execute-api/aws4_request, "
            f"SignedHeaders=date;host, Signature={sig}")
    verifier = SigV4Verifier(StaticKeys([ResolvedKey("AK", Secret("SK"))]), FrozenClock(NOW))
    result = verifier.verify("GET", "/prod/pets", "", [*headers, ("Authorization", auth)], b"")
    assert result.ok
    stale = SigV4Verifier(StaticKeys([ResolvedKey("AK", Secret("SK"))]),
                          FrozenClock(NOW + 400)).verify(
        "GET", "/prod/pets", "", [*headers, ("Authorization", auth)], b"")
    assert not stale.ok and stale.reason == "expired"


def test_scope_date_mismatch_with_date_header() -> None:
    auth = ("AWS4-HMAC-SHA256 Credential=AK/20231115/us-east-1/execute-api/aws4_request, "
            "SignedHeaders=date;host, Signature=00")
    result = _verify([("Host", "h"), ("Date", "Tue, 14 Nov 2023 22:13:20 GMT"),
                      ("Authorization", auth)])
    assert result.message == (
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
        "HTTP: '20231115' != '20231114', from 'Date'.")


def test_unsupported_algorithm() -> None:
    auth = ("AWS4-HMAC-SHA512 Credential=AK/20231114/us-east-1/execute-api/aws4_request, "
            "SignedHeaders=host, Signature=00")
    result = _verify([*HOST, ("Authorization", auth)])
    assert result.error_type == "IncompleteSignatureException"


@pytest.mark.parametrize("value", ["20231314T000000Z", "20230230T000000Z", "20231114T246000Z",
                                   "20231114T220000", "2023111T220000Z", "20231114T22000Z"])
def test_impossible_dates_are_malformed(value: str) -> None:
    from bastion.auth.sigv4._dates import parse_amz_date
    assert parse_amz_date(value) is None


def test_valid_date_parses() -> None:
    from bastion.auth.sigv4._dates import format_amz_date, parse_amz_date
    assert parse_amz_date("20240229T235959Z") is not None
    assert parse_amz_date(format_amz_date(NOW)) == NOW
