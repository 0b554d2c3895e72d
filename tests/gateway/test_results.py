"""Lambda proxy results: what API Gateway accepts and what it turns into a 502 (recorded)."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import GatewayFactory, call, op

VECTORS = Path(__file__).parent.parent / "vectors" / "apigw"
RECORDED = json.loads((VECTORS / "test_apigateway_lambda.snapshot.json").read_text())[
    "tests/aws/services/apigateway/test_apigateway_lambda.py::"
    "test_aws_proxy_response_payload_format_validation"]["recorded-content"]

# recorded entry -> (what the handler returns, expected status); from the recording test
CASES: dict[str, tuple[Any, int]] = {
    "invoke-api-no-body": ({"statusCode": 200}, 200),
    "invoke-api-with-headers": (
        {"statusCode": 200, "headers": {"test-header": "value", "header-bool": True}}, 200),
    "invoke-api-with-headers-null": ({"statusCode": 200, "headers": None}, 200),
    "invoke-api-wrong-format": ({"statusCode": 200, "wrongValue": "value"}, 502),
    "invoke-api-empty-response": ({}, 502),
    "invoke-api-b64-encoded-true": (
        {"statusCode": 200, "body": "dGVzdC1kYXRh", "isBase64Encoded": True}, 200),
    "invoke-api-b64-encoded-false": ({"statusCode": 200, "body": "dGVzdC1kYXRh"}, 200),
    "invoke-api-multi-headers-valid": (
        {"statusCode": 200, "multiValueHeaders": {"test-multi": ["value1", "value2"]}}, 200),
    "invoke-api-multi-headers-overwrite": (
        {"statusCode": 200, "multiValueHeaders": {"test-multi": ["value-multi"]},
         "headers": {"test-multi": "value-solo"}}, 200),
    "invoke-api-multi-headers-overwrite-casing": (
        {"statusCode": 200, "multiValueHeaders": {"tesT-Multi": ["value-multi"]},
         "headers": {"test-multi": "value-solo"}}, 200),
    "invoke-api-multi-headers-invalid": (
        {"statusCode": 200, "multiValueHeaders": {"test-multi-invalid": "value1"}}, 502),
    "invoke-api-invalid-status-code": ({"statusCode": "test"}, 502),
    "invoke-api-status-code-str": ({"statusCode": "201"}, 201),
    "invoke-api-just-string": ("justAString", 502),
    "invoke-api-only-headers": ({"headers": {"test-header": "value"}}, 200),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_v1_result_validation_matches_aws(gateway_for: GatewayFactory, name: str) -> None:
    result, status = CASES[name]
    expected = RECORDED[name]
    _, app = gateway_for({"/test": {"post": op("returns")}})
    reply = asyncio.run(call(app, "POST", "/prod/test", body=json.dumps(result).encode()))
    assert reply.status == status
    content = expected["content"]
    if isinstance(content, dict):
        assert reply.body == b'{"message": "Internal server error"}'
        assert reply.json() == content
        assert reply.header("x-amzn-ErrorType") == "InternalServerErrorException"
    else:
        assert reply.body.decode() == content
    for hname, hvalue in expected.get("headers", {}).items():
        if hname.lower() in ("test-header", "header-bool", "test-multi", "content-type"):
            assert (hname, hvalue) in reply.headers, (hname, reply.headers)


def test_v1_base64_body_is_decoded_only_for_binary_accept(gateway_for: GatewayFactory) -> None:
    _, app = gateway_for({"/bin": {"get": op("binary")}}, extra_doc={
        "x-amazon-apigateway-binary-media-types": ["application/octet-stream"]})
    reply = asyncio.run(call(app, "GET", "/prod/bin", headers=[("Accept", "text/plain")]))
    assert reply.body == base64.b64encode(bytes(range(256)))
    reply = asyncio.run(call(app, "GET", "/prod/bin",
                             headers=[("Accept", "application/octet-stream")]))
    assert reply.status == 200
    assert reply.body == bytes(range(256))
    assert reply.header("Content-Type") == "application/octet-stream"
    assert reply.header("Content-Length") == "256"


@pytest.mark.parametrize(("result", "status", "body"), [
    ({"statusCode": 204}, 204, b""),
    ({"hello": "world"}, 200, b'{"hello":"world"}'),
    ("plain", 200, b"plain"),
    ({"statusCode": 200, "body": "x", "cookies": ["a=1", "b=2"]}, 200, b"x"),
    ({"statusCode": "nope"}, 502, b'{"message": "Internal server error"}'),
])
def test_v2_results_are_lenient(gateway_for: GatewayFactory, result: Any, status: int,
                                body: bytes) -> None:
    _, app = gateway_for({"/t": {"post": op("returns")}}, kind="http", stage="$default")
    reply = asyncio.run(call(app, "POST", "/t", body=json.dumps(result).encode()))
    assert (reply.status, reply.body) == (status, body)
    if isinstance(result, dict) and "cookies" in result:
        assert [v for k, v in reply.headers if k == "Set-Cookie"] == ["a=1", "b=2"]
