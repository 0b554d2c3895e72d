"""AWS_IAM and resource policies through the whole gateway (botocore-signed requests)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bastion.auth.sigv4._dates import parse_amz_date
from bastion.clock import FrozenClock
from bastion.config import settings_from_data
from bastion.errors import ConfigError
from bastion.gateway.gateway import build_gateway
from bastion.http.app import BastionApp
from bastion.layers import builtin_layers
from tests.helpers import Reply, call

ACCOUNT = "123456789012"
CREDS = f"""
users:
  - name: reader
    account: "{ACCOUNT}"
    access_keys: [{{id: AKIAREADER0000000001, secret: reader-secret}}]
    policies:
      - Version: "2012-10-17"
        Statement:
          - {{Sid: Read, Effect: Allow, Action: "execute-api:Invoke",
              Resource: "arn:aws:execute-api:us-east-1:{ACCOUNT}:a1b2c3/prod/GET/*"}}
  - name: admin
    account: "{ACCOUNT}"
    access_keys: [{{id: AKIAADMIN00000000001, secret: admin-secret}}]
    policies:
      - Version: "2012-10-17"
        Statement:
          - {{Sid: All, Effect: Allow, Action: "execute-api:*",
              Resource: "arn:aws:execute-api:us-east-1:{ACCOUNT}:a1b2c3/*"}}
"""
READER = ("AKIAREADER0000000001", "reader-secret")
ADMIN = ("AKIAADMIN00000000001", "admin-secret")
SIGV4 = {"sigv4": {"type": "apiKey", "name": "Authorization", "in": "header",
                   "x-amazon-apigateway-authtype": "awsSigv4"}}


def integ() -> dict[str, Any]:
    return {"x-amazon-apigateway-integration": {"type": "aws_proxy",
                                                "uri": "tests.gateway.handlers:echo"}}


def make(tmp_path: Path, clock: FrozenClock, *, policy: dict[str, Any] | None = None,
         auth: dict[str, Any] | None = None, iam: bool = True) -> BastionApp:
    sec = [{"sigv4": []}] if iam else []
    paths = {"/pets": {"get": {"security": sec, **integ()}, "post": {"security": sec, **integ()}},
             "/pets/{id}": {"delete": {"security": sec, **integ()}}}
    doc: dict[str, Any] = {"openapi": "3.0.1", "info": {"title": "t", "version": "1"},
                           "components": {"securitySchemes": SIGV4}, "paths": paths}
    if policy is not None:
        doc["x-amazon-apigateway-policy"] = policy
    (tmp_path / "api.yaml").write_text(yaml.safe_dump(doc))
    (tmp_path / "creds.yaml").write_text(CREDS)
    cfg = {"api": {"openapi": "api.yaml", "stage": "prod", "account_id": ACCOUNT,
                   "api_id": "a1b2c3"}, "auth": {"credentials": "creds.yaml", **(auth or {})}}
    path = tmp_path / "bastion.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return BastionApp(build_gateway(settings_from_data(cfg, path), clock=clock,
                                    layers=builtin_layers()))


def signed(clock: FrozenClock, method: str, path: str, key: tuple[str, str],
           body: bytes = b"", token: str | None = None) -> list[tuple[str, str]]:
    req = AWSRequest(method=method, url=f"http://api.example.com{path}", data=body)
    SigV4Auth(Credentials(key[0], key[1], token), "execute-api", "us-east-1").add_auth(req)
    at = parse_amz_date(req.headers["X-Amz-Date"])
    assert at is not None
    clock.set(max(clock.time(), at))
    return [("Host", "api.example.com"), *((k, str(v)) for k, v in req.headers.items())]


def send(app: BastionApp, method: str, path: str, headers: list[tuple[str, str]] | None = None,
         body: bytes = b"", client: str = "203.0.113.9") -> Reply:
    return asyncio.run(call(app, method, path, headers=headers, body=body, client=client))


def test_unsigned_request_to_an_iam_method_is_missing_token(tmp_path: Path,
                                                            clock: FrozenClock) -> None:
    app = make(tmp_path, clock)
    reply = send(app, "GET", "/prod/pets")
    assert reply.status == 403
    assert reply.body == b'{"message":"Missing Authentication Token"}'
    assert reply.header("x-amzn-ErrorType") == "MissingAuthenticationTokenException"


def test_signed_reader_may_get_and_its_identity_reaches_the_handler(
        tmp_path: Path, clock: FrozenClock) -> None:
    app = make(tmp_path, clock)
    reply = send(app, "GET", "/prod/pets", signed(clock, "GET", "/prod/pets", READER))
    assert reply.status == 200, reply.body
    ident = reply.json()["event"]["requestContext"]["identity"]
    assert ident["accessKey"] == READER[0]
    assert ident["userArn"] == f"arn:aws:iam::{ACCOUNT}:user/reader"
    assert ident["accountId"] == ACCOUNT
    assert ident["user"] == ident["caller"]


def test_reader_may_not_post_implicit_deny_text(tmp_path: Path, clock: FrozenClock) -> None:
    app = make(tmp_path, clock)
    reply = send(app, "POST", "/prod/pets", signed(clock, "POST", "/prod/pets", READER, b"{}"),
                 body=b"{}")
    assert reply.status == 403
    assert reply.json() == {"Message": (
        f"User: arn:aws:iam::{ACCOUNT}:user/reader is not authorized to perform: "
        "execute-api:Invoke on resource: "
        "arn:aws:execute-api:us-east-1:********9012:a1b2c3/prod/POST/pets")}
    assert reply.header("x-amzn-ErrorType") == "AccessDeniedException"


def test_admin_may_post(tmp_path: Path, clock: FrozenClock) -> None:
    app = make(tmp_path, clock)
    reply = send(app, "POST", "/prod/pets", signed(clock, "POST", "/prod/pets", ADMIN, b"{}"),
                 body=b"{}")
    assert reply.status == 200


@pytest.mark.parametrize("tamper", ["body", "path", "method", "date", "key"])
def test_tampered_requests_are_rejected(tmp_path: Path, clock: FrozenClock,
                                        tamper: str) -> None:
    app = make(tmp_path, clock)
    headers = signed(clock, "POST", "/prod/pets", ADMIN, b'{"a":1}')
    method, path, body = "POST", "/prod/pets", b'{"a":1}'
    if tamper == "body":
        body = b'{"a":2}'
    elif tamper == "path":
        headers = signed(clock, "GET", "/prod/pets", ADMIN)
        method, path, body = "GET", "/prod/pets/", b""
    elif tamper == "method":
        method = "DELETE"
        path = "/prod/pets/1"
    elif tamper == "date":
        clock.advance(301)
    elif tamper == "key":
        headers = signed(clock, "POST", "/prod/pets", (ADMIN[0], "wrong"), body)
    reply = send(app, method, path, headers, body)
    assert reply.status == 403
    assert reply.header("x-amzn-ErrorType") == "InvalidSignatureException"
    if tamper == "date":
        assert reply.json()["message"].startswith("Signature expired:")
    else:
        assert reply.json()["message"].startswith("The request signature we calculated")


def test_replay_protection_refuses_a_second_use(tmp_path: Path, clock: FrozenClock) -> None:
    app = make(tmp_path, clock, auth={"replay_protection": True})
    headers = signed(clock, "GET", "/prod/pets", READER)
    assert send(app, "GET", "/prod/pets", headers).status == 200
    reply = send(app, "GET", "/prod/pets", headers)
    assert reply.status == 403


POLICY_ALLOW_INTERNAL = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke",
     "Resource": "execute-api:/*/GET/*"},
    {"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke",
     "Resource": "execute-api:/*", "Condition": {"NotIpAddress": {
         "aws:SourceIp": ["10.0.0.0/8"]}}},
]}


def test_resource_policy_only_api(tmp_path: Path, clock: FrozenClock) -> None:
    app = make(tmp_path, clock, policy=POLICY_ALLOW_INTERNAL, iam=False)
    assert send(app, "GET", "/prod/pets", client="10.1.2.3").status == 200
    reply = send(app, "GET", "/prod/pets", client="203.0.113.9")
    assert reply.status == 403
    assert reply.json() == {"Message": (
        "User: anonymous is not authorized to perform: execute-api:Invoke on resource: "
        "arn:aws:execute-api:us-east-1:********9012:a1b2c3/prod/GET/pets with an explicit deny")}
    # neither allowed nor denied -> implicit deny
    reply = send(app, "POST", "/prod/pets", client="10.1.2.3")
    assert reply.status == 403
    assert "explicit deny" not in reply.json()["Message"]


def test_resource_policy_with_iam_same_account_table_a(tmp_path: Path,
                                                        clock: FrozenClock) -> None:
    app = make(tmp_path, clock, policy=POLICY_ALLOW_INTERNAL)
    headers = signed(clock, "GET", "/prod/pets", READER)
    assert send(app, "GET", "/prod/pets", headers, client="10.9.9.9").status == 200
    headers = signed(clock, "GET", "/prod/pets", READER)
    reply = send(app, "GET", "/prod/pets", headers, client="198.51.100.7")
    assert reply.status == 403 and "with an explicit deny" in reply.json()["Message"]


def test_iam_route_without_credentials_is_a_config_error(tmp_path: Path,
                                                         clock: FrozenClock) -> None:
    (tmp_path / "api.yaml").write_text(yaml.safe_dump({
        "openapi": "3.0.1", "info": {"title": "t", "version": "1"},
        "components": {"securitySchemes": SIGV4},
        "paths": {"/x": {"get": {"security": [{"sigv4": []}], **integ()}}}}))
    cfg = {"api": {"openapi": "api.yaml"}}
    with pytest.raises(ConfigError, match="set auth.credentials"):
        build_gateway(settings_from_data(cfg, tmp_path / "bastion.yaml"), clock=clock,
                      layers=builtin_layers())
