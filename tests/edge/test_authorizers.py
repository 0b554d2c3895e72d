"""The lock-down authorizers as functions: the events API Gateway sends, the answers AWS
acts on (Allow/Deny policies over the whole API, ``Unauthorized``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bastion.edge.authorizers import shared_secret, source_ip

ARN = "arn:aws:execute-api:us-east-1:123456789012:api1/prod/GET/pets/1"


def effect(answer: dict[str, Any]) -> str:
    [statement] = answer["policyDocument"]["Statement"]
    assert statement["Resource"] == "arn:aws:execute-api:us-east-1:123456789012:api1/prod/*"
    return str(statement["Effect"])


@pytest.fixture
def secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    file = tmp_path / "secrets.txt"
    file.write_text("# current and next\nsecret-one-0001\n\nsecret-two-00002\n")
    monkeypatch.setenv("BASTION_EDGE_SECRETS_FILE", str(file))
    monkeypatch.delenv("BASTION_EDGE_SECRET", raising=False)
    monkeypatch.delenv("BASTION_EDGE_SECRET_PREVIOUS", raising=False)
    return file


@pytest.mark.parametrize(("event", "want"), [
    ({"type": "TOKEN", "authorizationToken": "secret-one-0001", "methodArn": ARN}, "Allow"),
    ({"type": "TOKEN", "authorizationToken": "secret-two-00002", "methodArn": ARN}, "Allow"),
    ({"type": "TOKEN", "authorizationToken": "secret-one-000", "methodArn": ARN}, "Deny"),
    ({"type": "TOKEN", "authorizationToken": "# current and next", "methodArn": ARN}, "Deny"),
    ({"type": "REQUEST", "headers": {"X-Origin-Verify": "secret-one-0001"}, "methodArn": ARN},
     "Allow"),
    ({"type": "REQUEST", "headers": {"x-origin-verify": "nope"}, "methodArn": ARN}, "Deny"),
])
def test_shared_secret(secrets: Path, event: dict[str, Any], want: str) -> None:
    assert effect(shared_secret(event)) == want


def test_shared_secret_missing_is_unauthorized(secrets: Path) -> None:
    for event in ({"type": "TOKEN", "authorizationToken": "", "methodArn": ARN},
                  {"type": "REQUEST", "headers": {}, "methodArn": ARN}):
        with pytest.raises(Exception, match="^Unauthorized$"):
            shared_secret(event)


def test_shared_secret_rotation_through_the_file_and_env(
        secrets: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = {"type": "TOKEN", "authorizationToken": "secret-one-0001", "methodArn": ARN}
    assert shared_secret(token)["context"] == {"edgeSecret": "#1"}
    secrets.write_text("secret-two-00002\n")
    assert effect(shared_secret(token)) == "Deny"
    monkeypatch.setenv("BASTION_EDGE_SECRET_PREVIOUS", "secret-one-0001")
    assert effect(shared_secret(token)) == "Allow"


@pytest.mark.parametrize(("ip", "want"), [
    ("10.1.2.3", "Allow"), ("192.0.2.7", "Allow"), ("192.0.2.8", "Deny"),
    ("2001:db8::1", "Allow"), ("203.0.113.1", "Deny"), ("not-an-ip", "Deny")])
def test_source_ip(monkeypatch: pytest.MonkeyPatch, ip: str, want: str) -> None:
    monkeypatch.setenv("BASTION_EDGE_SOURCE_IPS", "10.0.0.0/8, 192.0.2.7,2001:db8::/32")
    v1 = {"type": "REQUEST", "methodArn": ARN,
          "requestContext": {"identity": {"sourceIp": ip}}}
    v2 = {"type": "REQUEST", "routeArn": ARN, "requestContext": {"http": {"sourceIp": ip}}}
    assert effect(source_ip(v1)) == want
    assert effect(source_ip(v2)) == want
