"""The credential endpoint in-process: who may call it, what it answers, that what it issues
signs requests the gateway accepts until they expire, and that every issue is audited."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from bastion.auth.sigv4 import Credentials, sign_headers
from bastion.clock import FrozenClock
from bastion.config import load_settings
from bastion.edge.sts_client import parse_assume_role
from bastion.errors import ConfigError
from bastion.gateway.gateway import build_gateway
from bastion.http.app import BastionApp
from tests.edge import configs
from tests.helpers import Reply, call

TOKEN = "bootstrap-token-in-process-0001"
NEXT = "bootstrap-token-in-process-0002"
PATH = "/_bastion/sts/assume-role"


class Audit:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def emit(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_TOKEN", TOKEN)
    monkeypatch.setenv("EDGE_TOKEN_NEXT", NEXT)


def _app(tmp_path: Path, clock: FrozenClock, **credentials: Any) -> BastionApp:
    cfg = configs.iam_gateway(tmp_path)
    if credentials:
        doc = yaml.safe_load(cfg.read_text())
        doc["credentials"] = credentials
        cfg.write_text(yaml.safe_dump(doc))
    return BastionApp(build_gateway(load_settings(cfg), clock=clock))


def _post(app: BastionApp, body: Any = None, token: str | None = TOKEN,
          method: str = "POST") -> Reply:
    headers = [("Authorization", f"Bearer {token}")] if token else []
    raw = json.dumps(body).encode() if body is not None else b""
    return asyncio.run(call(app, method, PATH, headers=headers, body=raw))


def _signed_call(app: BastionApp, clock: FrozenClock, creds: Credentials) -> Reply:
    url = "http://api.example.com/prod/echo"
    headers = sign_headers("POST", url, [], b"hi", creds, "us-east-1", "execute-api",
                           clock.time())
    return asyncio.run(call(app, "POST", "/prod/echo", headers=headers, body=b"hi"))


def test_issued_credentials_sign_requests_until_they_expire(tmp_path: Path, env: None) -> None:
    clock = FrozenClock(1_750_000_000.0)
    app = _app(tmp_path, clock)
    reply = _post(app, {"RoleName": "edge-signer", "RoleSessionName": "edge-1",
                        "DurationSeconds": 900})
    assert reply.status == 200
    assert reply.header("cache-control") == "no-store"
    assert reply.header("x-amzn-errortype") is None
    doc = reply.json()
    assert doc["AssumedRoleUser"]["Arn"] == (
        f"arn:aws:sts::{configs.ACCOUNT}:assumed-role/edge-signer/edge-1")
    assert doc["Credentials"]["Expiration"] == "2025-06-15T15:21:40Z"
    issued = parse_assume_role(reply.body, received_at=clock.time())
    assert issued.expiration == clock.time() + 900
    ok = _signed_call(app, clock, issued.credentials)
    assert ok.status == 200, ok.body
    assert ok.json()["user"].endswith("assumed-role/edge-signer/edge-1")
    clock.advance(901)
    expired = _signed_call(app, clock, issued.credentials)
    assert expired.status == 403
    assert expired.header("x-amzn-errortype") == "ExpiredTokenException"


@pytest.mark.parametrize(("token", "body", "method", "status", "code"), [
    (None, {}, "POST", 403, "AccessDenied"),
    ("wrong-token", {}, "POST", 403, "AccessDenied"),
    (TOKEN, {}, "GET", 405, "InvalidAction"),
    (TOKEN, {"RoleName": "admin"}, "POST", 403, "AccessDenied"),
    (TOKEN, {"DurationSeconds": 60}, "POST", 400, "ValidationError"),
    (TOKEN, {"DurationSeconds": "900"}, "POST", 400, "ValidationError"),
    (TOKEN, {"RoleSessionName": "bad name!"}, "POST", 400, "ValidationError"),
    (TOKEN, [1, 2], "POST", 400, "ValidationError"),
])
def test_refusals(tmp_path: Path, env: None, token: str | None, body: Any, method: str,
                  status: int, code: str) -> None:
    app = _app(tmp_path, FrozenClock())
    reply = _post(app, body, token, method)
    assert reply.status == status
    assert reply.json()["Error"]["Code"] == code
    assert TOKEN not in reply.body.decode()


def test_two_tokens_during_rotation_and_a_token_file(tmp_path: Path, env: None) -> None:
    (tmp_path / "tokens.txt").write_text("file-token-000000001\n\n")
    app = _app(tmp_path, FrozenClock(), roles=["edge-signer"],
               bootstrap_token_env=["EDGE_TOKEN", "EDGE_TOKEN_NEXT"],
               bootstrap_token_file="tokens.txt")
    for token in (TOKEN, NEXT, "file-token-000000001"):
        assert _post(app, {}, token).status == 200
    (tmp_path / "tokens.txt").write_text("file-token-000000002-rotated\n")
    assert _post(app, {}, "file-token-000000001").status == 403
    assert _post(app, {}, "file-token-000000002-rotated").status == 200


def test_allowed_sources(tmp_path: Path, env: None) -> None:
    app = _app(tmp_path, FrozenClock(), roles=["edge-signer"], bootstrap_token_env="EDGE_TOKEN",
               allowed_sources=["10.0.0.0/8"])
    reply = _post(app, {})  # the helper's client is 203.0.113.9
    assert reply.status == 403


def test_every_issue_is_audited_without_secrets(tmp_path: Path, env: None) -> None:
    app = _app(tmp_path, FrozenClock())
    audit = Audit()
    app.gateway.ctx.resources["audit"] = audit
    reply = _post(app, {"RoleSessionName": "edge-7"})
    creds = reply.json()["Credentials"]
    [(event, fields)] = audit.events
    assert event == "AssumeRole"
    assert fields["access_key_id"] == creds["AccessKeyId"]
    assert fields["authenticated_by"] == "token#1"
    assert fields["session_arn"].endswith("/edge-signer/edge-7")
    text = repr(fields)
    for secret in (creds["SecretAccessKey"], creds["SessionToken"], TOKEN):
        assert secret not in text


def test_without_an_audit_trail_issues_are_logged(tmp_path: Path, env: None,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    app = _app(tmp_path, FrozenClock())
    with caplog.at_level(logging.INFO, logger="bastion.edge.sts"):
        creds = _post(app, {}).json()["Credentials"]
    assert creds["AccessKeyId"] in caplog.text
    for secret in (creds["SecretAccessKey"], creds["SessionToken"], TOKEN):
        assert secret not in caplog.text


def test_the_cloudtrail_style_trail_records_assume_role(tmp_path: Path, env: None) -> None:
    from bastion.observe.audit.signing import Signer, generate_signing_key
    from bastion.observe.audit.trail import AuditTrail

    clock = FrozenClock()
    app = _app(tmp_path, clock)
    private, _ = generate_signing_key(tmp_path / "keys")
    trail = AuditTrail(tmp_path / "audit", Signer.from_file(private), clock)
    app.gateway.ctx.resources["audit"] = trail
    creds = _post(app, {}).json()["Credentials"]
    trail.flush()
    import gzip

    text = "".join(gzip.decompress(p.read_bytes()).decode() for p in
                   (tmp_path / "audit").rglob("*.json.gz"))
    assert "AssumeRole" in text and creds["AccessKeyId"] in text
    assert creds["SecretAccessKey"] not in text
    trail.close()


@pytest.mark.parametrize(("credentials", "message"), [
    ({"roles": ["edge-signer"]}, "never runs unauthenticated"),
    ({"roles": ["nobody"], "mtls": True}, "no role named 'nobody'"),
    ({"roles": [], "mtls": True}, "at least one role"),
    ({"roles": ["edge-signer"], "mtls": True, "path": "/sts"}, "/_bastion/"),
    ({"roles": ["edge-signer"], "bootstrap_token_env": "UNSET_VAR_XYZ"}, "unset"),
    ({"roles": ["edge-signer"], "mtls": True, "allowed_sources": ["nope"]}, "CIDR"),
])
def test_config_errors(tmp_path: Path, env: None, credentials: dict[str, Any],
                       message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _app(tmp_path, FrozenClock(), **credentials)
    assert message in str(info.value) or any(
        message in e.render() for e in getattr(info.value, "errors", []))


def test_the_endpoint_needs_the_iam_stage(tmp_path: Path, env: None) -> None:
    cfg = configs.write(tmp_path, "gateway", {}, configs.origin_api(None),
                        credentials={"roles": ["edge-signer"], "mtls": True})
    with pytest.raises(ConfigError, match="AWS_IAM"):
        build_gateway(load_settings(cfg), clock=FrozenClock())
