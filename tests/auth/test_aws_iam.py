"""``authorize_aws_iam`` end to end: botocore-signed requests, credentials file, identity
policies, resource policy (PetStore example: GET for users, POST only for admins)."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from bastion.auth.aws_iam import IamAuthResult, authorize_aws_iam
from bastion.auth.credentials import CredentialStore
from bastion.auth.iam import ApiScope, execute_api_arn, load_policy_file
from bastion.auth.sigv4 import SigV4Verifier
from bastion.auth.sigv4._dates import parse_amz_date
from bastion.clock import FrozenClock

ACCOUNT = "123456789012"
DATA = Path(__file__).parent / "data" / "petstore"
RESOURCE_POLICY = load_policy_file(DATA / "resource-policy.json", kind="resource",
                                   api=ApiScope("us-east-1", ACCOUNT, "petstore"))


def signed(method: str, path: str, ak: str, sk: str, body: bytes = b"") -> tuple[
        list[tuple[str, str]], float]:
    req = AWSRequest(method=method, url=f"http://127.0.0.1:8080{path}", data=body)
    SigV4Auth(BotoCredentials(ak, sk), "execute-api", "us-east-1").add_auth(req)
    at = parse_amz_date(req.headers["X-Amz-Date"])
    assert at is not None
    return [("Host", "127.0.0.1:8080"), *req.headers.items()], at


@pytest.fixture
def store_file() -> Path:
    return DATA / "credentials.yaml"


def call(store_file: Path, method: str, ak: str, sk: str, *, ip: str = "10.1.1.1",
         signed_headers: list[tuple[str, str]] | None = None) -> IamAuthResult:
    path = "/prod/pets/1" if method != "GET" else "/prod/pets"
    headers, at = signed(method, path, ak, sk)
    clock = FrozenClock(at)
    verifier = SigV4Verifier(CredentialStore(store_file, clock), clock)
    arn = execute_api_arn("us-east-1", ACCOUNT, "petstore", "prod", method, path.removeprefix(
        "/prod"))
    return authorize_aws_iam(verifier, method, path, "", signed_headers or headers, b"",
                             method_arn=arn, resource_policy=RESOURCE_POLICY, now=at,
                             source_ip=ip, secure_transport=True)


READER = ("AKIAPETSTOREREADER01", "reader-secret-example")
ADMIN = ("AKIAPETSTOREADMIN001", "admin-secret-example")


def test_reader_may_get(store_file: Path) -> None:
    result = call(store_file, "GET", *READER)
    assert result.allowed and result.status == 200 and result.interruption() is None
    assert result.principal is not None and result.principal.name == "reader"
    assert result.decision is not None and result.decision.statement is not None
    assert result.decision.statement.sid == "ReadPets"


def test_reader_may_not_post(store_file: Path) -> None:
    result = call(store_file, "POST", *READER)
    assert not result.allowed
    assert (result.status, result.error_type, result.response_type) == (
        403, "AccessDeniedException", "ACCESS_DENIED")
    assert result.body == {"Message": (
        f"User: arn:aws:iam::{ACCOUNT}:user/reader is not authorized to perform: "
        "execute-api:Invoke on resource: "
        "arn:aws:execute-api:us-east-1:********9012:petstore/prod/POST/pets/1")}
    assert result.headers() == [("x-amzn-ErrorType", "AccessDeniedException")]
    stop = result.interruption()
    assert stop is not None
    assert (stop.response_type, stop.status, stop.error_type, stop.message_key) == (
        "ACCESS_DENIED", 403, "AccessDeniedException", "Message")
    assert stop.message == result.body["Message"]
    assert "IMPLICIT_DENY" in stop.reason


def test_admin_may_post(store_file: Path) -> None:
    assert call(store_file, "POST", *ADMIN).allowed


def test_resource_policy_explicit_deny(store_file: Path) -> None:
    assert call(store_file, "DELETE", *ADMIN, ip="10.2.3.4").allowed
    result = call(store_file, "DELETE", *ADMIN, ip="203.0.113.9")
    assert not result.allowed
    assert result.body is not None
    assert result.body["Message"].endswith("with an explicit deny")
    assert result.decision is not None and "NoDeleteFromOutside" in result.decision.reason


def test_signature_failures_pass_through(store_file: Path) -> None:
    result = call(store_file, "GET", READER[0], "wrong-secret")
    assert not result.allowed
    assert (result.status, result.error_type, result.response_type) == (
        403, "InvalidSignatureException", "INVALID_SIGNATURE")
    assert result.body is not None and "message" in result.body
    unsigned = call(store_file, "GET", *READER, signed_headers=[("Host", "127.0.0.1:8080")])
    assert (unsigned.error_type, unsigned.response_type) == (
        "MissingAuthenticationTokenException", "MISSING_AUTHENTICATION_TOKEN")
    assert unsigned.body == {"message": "Missing Authentication Token"}
    stop = unsigned.interruption()
    assert stop is not None and stop.message_key == "message"
    assert stop.response_type == "MISSING_AUTHENTICATION_TOKEN" and stop.reason == "sigv4: missing"
