"""Requests signed by botocore (the reference client) verify; every tampering is rejected
with API Gateway's message; replays are refused when the nonce cache is on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from bastion.auth.replay import MemoryNonceCache
from bastion.auth.secret import Secret
from bastion.auth.sigv4 import (
    ResolvedKey,
    SigV4Verifier,
    StaticKeys,
    VerifierOptions,
    VerifyResult,
)
from bastion.auth.sigv4._dates import parse_amz_date
from bastion.clock import FrozenClock

AK, SK = "AKIAEXAMPLEUSER00001", "user/secret+key=="
TAK, TSK, TOKEN = "ASIATEMPORARY0000001", "temp-secret", "FwoGZXIvYXdzEXAMPLETOKEN//+="
OTHER_AK, OTHER_SK = "AKIAOTHERUSER0000002", "other-secret"
REGION = "us-east-1"


@dataclass
class Wire:
    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    signed_at: float


def _keys() -> StaticKeys:
    return StaticKeys([
        ResolvedKey(AK, Secret(SK), principal="user"),
        ResolvedKey(OTHER_AK, Secret(OTHER_SK), principal="other"),
        ResolvedKey(TAK, Secret(TSK), principal="role", session_token=Secret(TOKEN),
                    expires_at=4_000_000_000.0),
    ])


def _to_wire(req: AWSRequest) -> Wire:
    prepared = req.prepare()
    parts = urlsplit(prepared.url)
    headers = [(k, v.decode() if isinstance(v, bytes) else v) for k, v in prepared.headers.items()]
    if not any(k.lower() == "host" for k, _ in headers):
        headers.insert(0, ("Host", parts.netloc))
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    date = next((v for k, v in headers if k.lower() == "x-amz-date"), None)
    if date is None:
        from urllib.parse import parse_qs
        date = parse_qs(parts.query)["X-Amz-Date"][0]
    signed_at = parse_amz_date(date)
    assert signed_at is not None
    return Wire(prepared.method, parts.path, parts.query, headers, body, signed_at)


def boto_sign(
    method: str = "GET", url: str = "http://127.0.0.1:8080/prod/pets/a%20b?type=dog&x=1%202",
    body: bytes = b"", headers: dict[str, str] | None = None, *, temporary: bool = False,
    presign: bool = False, region: str = REGION, service: str = "execute-api",
    access_key: str | None = None, secret: str | None = None,
) -> Wire:
    if temporary:
        creds = BotoCredentials(access_key or TAK, secret or TSK, TOKEN)
    else:
        creds = BotoCredentials(access_key or AK, secret or SK)
    req = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    if presign:
        SigV4QueryAuth(creds, service, region, expires=300).add_auth(req)
    else:
        SigV4Auth(creds, service, region).add_auth(req)
    return _to_wire(req)


def verify(w: Wire, *, clock: FrozenClock | None = None, nonces: MemoryNonceCache | None = None,
           options: VerifierOptions | None = None) -> VerifyResult:
    verifier = SigV4Verifier(_keys(), clock or FrozenClock(w.signed_at + 1),
                             options or VerifierOptions(regions=(REGION,)), nonces=nonces)
    return verifier.verify(w.method, w.path, w.query, w.headers, w.body)


FORMS = [
    pytest.param({}, id="header"),
    pytest.param({"temporary": True}, id="header-sts"),
    pytest.param({"presign": True}, id="presigned"),
    pytest.param({"presign": True, "temporary": True}, id="presigned-sts"),
]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize(("method", "url", "body"), [
    ("GET", "http://127.0.0.1:8080/prod/pets", b""),
    ("GET", "http://127.0.0.1:8080/prod/pets/a%20b?type=dog&x=1%202&empty=", b""),
    ("GET", "http://127.0.0.1:8080/prod/@connections/abcd%3D", b""),
    ("POST", "http://127.0.0.1:8080/prod/pets", b'{"name": "rex"}'),
    ("PUT", "https://abc123.execute-api.us-east-1.amazonaws.com/prod/pets/1?z=%E1%88%B4&a=b",
     '{"n": "é"}'.encode()),
    ("DELETE", "http://localhost/prod/pets/1", b""),
])
def test_botocore_signed_requests_verify(form: dict[str, bool], method: str, url: str,
                                         body: bytes) -> None:
    w = boto_sign(method, url, body, {"Content-Type": "application/json", "X-Trace": "a  b"},
                  temporary=form.get("temporary", False), presign=form.get("presign", False))
    result = verify(w)
    assert result.ok, getattr(result, "message", "")
    assert result.principal == ("role" if form.get("temporary") else "user")
    assert result.temporary is bool(form.get("temporary"))


def test_canonical_path_is_double_encoded_like_execute_api() -> None:
    w = boto_sign("GET", "http://127.0.0.1:8080/prod/pets/a%20b")
    tampered = replace(w, headers=[(n, v + "x" if n == "Authorization" else v)
                                   for n, v in w.headers])
    result = verify(tampered)
    assert not result.ok
    assert "\n/prod/pets/a%2520b\n" in result.message


def _set_header(name: str, value: str) -> Callable[[Wire], Wire]:
    def apply(w: Wire) -> Wire:
        kept = [(n, v) for n, v in w.headers if n.lower() != name.lower()]
        return replace(w, headers=[*kept, (name, value)])
    return apply


MISMATCH = "The request signature we calculated does not match the signature you provided."
TAMPERS: list[tuple[str, Callable[[Wire], Wire], str]] = [
    ("method", lambda w: replace(w, method="DELETE"), MISMATCH),
    ("path", lambda w: replace(w, path=w.path + "x"), MISMATCH),
    ("query", lambda w: replace(w, query=w.query.replace("dog", "cat")), MISMATCH),
    ("query-added", lambda w: replace(w, query=w.query + "&admin=1"), MISMATCH),
    ("header", _set_header("Content-Type", "text/plain"), MISMATCH),
    ("host", _set_header("Host", "evil.example"), MISMATCH),
    ("body", lambda w: replace(w, body=w.body + b"!"), MISMATCH),
]


@pytest.mark.parametrize(("name", "tamper", "text"), TAMPERS, ids=[t[0] for t in TAMPERS])
@pytest.mark.parametrize("presign", [False, True], ids=["header", "presigned"])
def test_tampering_is_rejected(name: str, tamper: Callable[[Wire], Wire], text: str,
                               presign: bool) -> None:
    w = boto_sign("POST", body=b'{"a": 1}', headers={"Content-Type": "application/json"},
                  presign=presign)
    assert verify(w).ok
    result = verify(tamper(w))
    assert not result.ok
    assert result.status == 403
    assert result.error_type == "InvalidSignatureException"
    assert result.message.startswith(text)
    assert "The Canonical String for this request should have been\n'" in result.message
    assert "The String-to-Sign should have been\n'AWS4-HMAC-SHA256\n" in result.message


def test_tampered_date_within_window_is_a_mismatch() -> None:
    w = boto_sign()
    from bastion.auth.sigv4._dates import format_amz_date
    moved = _set_header("X-Amz-Date", format_amz_date(w.signed_at + 60))(w)
    result = verify(moved)
    assert not result.ok and result.reason == "signature_mismatch"


def test_tampered_date_other_day_is_a_scope_error() -> None:
    w = boto_sign()
    from bastion.auth.sigv4._dates import format_amz_date
    moved = _set_header("X-Amz-Date", format_amz_date(w.signed_at + 86_400))(w)
    result = verify(moved, clock=FrozenClock(w.signed_at + 86_400))
    assert not result.ok
    assert result.error_type == "InvalidSignatureException"
    assert result.message.startswith(
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
        "HTTP: '")
    assert result.message.endswith("', from 'X-Amz-Date'.")


def test_wrong_region() -> None:
    result = verify(boto_sign(region="eu-west-3"))
    assert not result.ok and result.error_type == "InvalidSignatureException"
    assert result.message == "Credential should be scoped to a valid region, not 'eu-west-3'."


def test_wrong_service() -> None:
    result = verify(boto_sign(service="s3"))
    assert not result.ok and result.error_type == "InvalidSignatureException"
    assert result.message == "Credential should be scoped to correct service: 'execute-api'."


def test_wrong_terminator() -> None:
    w = boto_sign()
    auth = dict(w.headers)["Authorization"].replace("aws4_request", "aws5_request")
    result = verify(_set_header("Authorization", auth)(w))
    assert not result.ok
    assert result.message == ("Credential should be scoped with a valid terminator: "
                              "'aws4_request', not 'aws5_request'.")


def test_wrong_secret_is_a_mismatch() -> None:
    result = verify(boto_sign(secret="not-the-secret"))
    assert not result.ok and result.reason == "signature_mismatch"


def test_other_users_key_is_a_mismatch() -> None:
    result = verify(boto_sign(access_key=OTHER_AK))
    assert not result.ok and result.reason == "signature_mismatch"


@pytest.mark.parametrize("presign", [False, True])
def test_unknown_key(presign: bool) -> None:
    result = verify(boto_sign(access_key="AKIAUNKNOWN000000000", presign=presign))
    assert not result.ok
    assert (result.status, result.error_type, result.message) == (
        403, "UnrecognizedClientException",
        "The security token included in the request is invalid.")


@pytest.mark.parametrize("presign", [False, True])
def test_tampered_session_token(presign: bool) -> None:
    w = boto_sign(temporary=True, presign=presign)
    if presign:
        w = replace(w, query=w.query.replace("EXAMPLETOKEN", "EXAMPLETOKEM"))
    else:
        w = _set_header("X-Amz-Security-Token", TOKEN.replace("EXAMPLE", "EXAMPLF"))(w)
    result = verify(w)
    assert not result.ok
    assert result.message == "The security token included in the request is invalid."


def test_missing_session_token_for_temporary_key() -> None:
    w = boto_sign(temporary=True)
    w = replace(w, headers=[(n, v) for n, v in w.headers if n != "X-Amz-Security-Token"])
    result = verify(w)
    assert not result.ok
    assert result.message == "The security token included in the request is invalid."


def test_session_token_on_long_term_key_is_invalid() -> None:
    w = _set_header("X-Amz-Security-Token", TOKEN)(boto_sign())
    result = verify(w)
    assert not result.ok and result.reason == "unexpected_token"


def test_expired_temporary_credentials() -> None:
    w = boto_sign(temporary=True)
    keys = StaticKeys([ResolvedKey(TAK, Secret(TSK), "role", Secret(TOKEN),
                                   expires_at=w.signed_at)])
    result = SigV4Verifier(keys, FrozenClock(w.signed_at + 1)).verify(
        w.method, w.path, w.query, w.headers, w.body)
    assert not result.ok
    assert (result.error_type, result.message) == (
        "ExpiredTokenException", "The security token included in the request is expired")


def test_signature_expired_message() -> None:
    w = boto_sign()
    result = verify(w, clock=FrozenClock(w.signed_at + 301))
    assert not result.ok and result.error_type == "InvalidSignatureException"
    from bastion.auth.sigv4._dates import format_amz_date as f
    assert result.message == (
        f"Signature expired: {f(w.signed_at)} is now earlier than {f(w.signed_at + 1)} "
        f"({f(w.signed_at + 301)} - 5 min.)")


def test_signature_exactly_five_minutes_old_is_accepted() -> None:
    w = boto_sign()
    assert verify(w, clock=FrozenClock(w.signed_at + 300)).ok


def test_signature_not_yet_current_message() -> None:
    w = boto_sign()
    now = w.signed_at - 301
    result = verify(w, clock=FrozenClock(now))
    from bastion.auth.sigv4._dates import format_amz_date as f
    assert not result.ok and result.reason == "not_yet_current"
    assert result.message == (
        f"Signature not yet current: {f(w.signed_at)} is still later than {f(now + 300)} "
        f"({f(now)} + 5 min.)")


def test_presigned_url_expires() -> None:
    w = boto_sign(presign=True)
    assert verify(w, clock=FrozenClock(w.signed_at + 300)).ok
    result = verify(w, clock=FrozenClock(w.signed_at + 301))
    assert not result.ok and result.reason == "expired"
    assert result.message.startswith("Signature expired: ")


@pytest.mark.parametrize("presign", [False, True])
def test_replay_rejected_when_enabled(presign: bool) -> None:
    w = boto_sign(presign=presign)
    clock = FrozenClock(w.signed_at + 1)
    nonces = MemoryNonceCache(clock)
    assert verify(w, clock=clock, nonces=nonces).ok
    again = verify(w, clock=clock, nonces=nonces)
    assert not again.ok
    assert (again.error_type, again.reason) == ("InvalidSignatureException", "replayed")
    clock.advance(200)
    assert not verify(w, clock=clock, nonces=nonces).ok
    other = boto_sign(presign=presign, url="http://127.0.0.1:8080/prod/other")
    assert verify(other, clock=FrozenClock(other.signed_at), nonces=nonces).ok


def test_replay_allowed_when_disabled() -> None:
    w = boto_sign()
    assert verify(w).ok and verify(w).ok


def test_failed_verification_does_not_burn_the_nonce() -> None:
    w = boto_sign()
    clock = FrozenClock(w.signed_at)
    nonces = MemoryNonceCache(clock)
    assert not verify(replace(w, body=b"x"), clock=clock, nonces=nonces).ok
    assert verify(w, clock=clock, nonces=nonces).ok


def test_unsigned_payload_rejected_unless_allowed() -> None:
    req = AWSRequest(method="POST", url="http://127.0.0.1:8080/prod/pets", data=b"{}",
                     headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    SigV4Auth(BotoCredentials(AK, SK), "execute-api", REGION).add_auth(req)
    w = _to_wire(req)
    result = verify(w)
    assert not result.ok and result.reason == "unsigned_payload"
    assert verify(w, options=VerifierOptions(allow_unsigned_payload=True)).ok


def test_declared_payload_hash_must_match_body() -> None:
    w = boto_sign("POST", body=b"{}", headers={"X-Amz-Content-SHA256": "00" * 32})
    result = verify(w)
    assert not result.ok and result.reason == "payload_hash"
