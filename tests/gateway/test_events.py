"""Lambda proxy events against the shapes AWS recorded (tests/vectors/apigw)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import GatewayFactory, call, op

VECTORS = Path(__file__).parent.parent / "vectors" / "apigw"
RECORDED = json.loads((VECTORS / "test_apigateway_lambda.snapshot.json").read_text())[
    "tests/aws/services/apigateway/test_apigateway_lambda.py::test_lambda_aws_proxy_integration"
]["recorded-content"]

HEADERS = [("Accept", "*/*"), ("Accept-Encoding", "gzip, deflate"),
           ("Authorization", "random-value"), ("User-Agent", "python-requests/testing"),
           ("tEsT-HEADeR", "aValUE")]

# recorded entry -> (method, raw path, raw query, body)
CASES: dict[str, tuple[str, str, str, bytes]] = {
    "invocation-payload-without-trailing-slash": ("GET", "/stage/proxy-value", "", b""),
    "invocation-payload-with-trailing-slash": ("GET", "/stage/proxy-value/", "", b""),
    "invocation-payload-with-double-slash": ("GET", "/stage/proxy-value//double-slash", "", b""),
    "invocation-payload-with-prepended-slash-to-stage": ("GET", "//stage/proxy-value", "", b""),
    "invocation-payload-with-prepended-slash": ("GET", "/stage//proxy-value", "", b""),
    "invocation-payload-without-trailing-slash-and-query-params": (
        "GET", "/stage/proxy-value", "urlparam=test", b""),
    "invocation-payload-with-trailing-slash-and-query-params": (
        "GET", "/stage/proxy-value/", "urlparam=test", b""),
    "invocation-payload-with-path-encoded-email": (
        "GET", "/stage/proxy-value/api/user/test%2Balias@gmail.com/plus/test+alias@gmail.com",
        "", b""),
    "invocation-payload-with-params-encoding": (
        "GET", "/stage/proxy-value/api",
        "dateTimeOffset=2023-06-12T18:05:10.123456+00:00&email=test%2Balias%40gmail.com"
        "&plus=test+alias@gmail.com&url=https%3A%2F%2Fwww.google.com%2F&whitespace=foo%20bar"
        "&zhash=abort/", b""),
    "invocation-payload-with-params-encoding-multi": (
        "POST", "/stage/proxy-value",
        "category=electronics&category=books&price=10&price=20&price=30",
        b'{"message": "hello world"}'),
    "invocation-hardcoded": ("GET", "/stage//hardcoded", "", b""),
}

COMPARED = ("resource", "path", "httpMethod", "pathParameters", "queryStringParameters",
            "multiValueQueryStringParameters", "stageVariables", "isBase64Encoded")
CONTEXT_COMPARED = ("httpMethod", "path", "protocol", "resourcePath", "stage")


@pytest.mark.parametrize("name", sorted(CASES))
def test_v1_event_matches_recorded_aws_event(gateway_for: GatewayFactory, name: str) -> None:
    expected: dict[str, Any] = RECORDED[name]
    _, app = gateway_for({"/{proxy+}": {"x-amazon-apigateway-any-method": op("echo")},
                          "/hardcoded": {"get": op("echo")}}, stage="stage")
    method, path, query, body = CASES[name]
    reply = asyncio.run(call(app, method, path, query=query, headers=HEADERS, body=body))
    assert reply.status == 200, reply.body
    event = reply.json()["event"]
    assert set(event) == set(expected)
    for key in COMPARED:
        assert event[key] == expected[key], key
    if expected["body"] is not None:
        assert json.loads(event["body"]) == expected["body"]
    else:
        assert event["body"] is None
    ctx, rctx = event["requestContext"], expected["requestContext"]
    assert set(ctx) >= set(rctx)
    for key in CONTEXT_COMPARED:
        assert ctx[key] == rctx[key], key
    assert ctx["accountId"] == "123456789012"
    assert set(ctx["identity"]) == set(rctx["identity"])
    assert ctx["identity"]["userAgent"] == rctx["identity"]["userAgent"]
    assert ctx["identity"]["sourceIp"] == "203.0.113.9"
    # header names keep the client's case; multi-value headers carry lists
    assert event["headers"]["tEsT-HEADeR"] == "aValUE"
    assert event["multiValueHeaders"]["tEsT-HEADeR"] == ["aValUE"]
    assert ctx["requestId"] == reply.header("x-amzn-RequestId")
    assert isinstance(ctx["requestTimeEpoch"], int)


def test_v1_context_object(gateway_for: GatewayFactory) -> None:
    _, app = gateway_for({"/x": {"get": op("echo", timeoutInMillis=2000)}})
    reply = asyncio.run(call(app, "GET", "/prod/x"))
    context = reply.json()["context"]
    assert context["aws_request_id"] == reply.header("x-amzn-RequestId")
    assert context["function_name"] == "echo"
    assert 0 < context["remaining_ms"] <= 2000
    assert context["arn"] == "arn:aws:lambda:us-east-1:123456789012:function:echo"


def test_v1_binary_body_is_base64(gateway_for: GatewayFactory) -> None:
    _, app = gateway_for({"/up": {"post": op("echo")}},
                         extra_doc={"x-amazon-apigateway-binary-media-types": ["image/*"]})
    reply = asyncio.run(call(app, "POST", "/prod/up", headers=[("Content-Type", "image/png")],
                             body=b"\x89PNG\r\n"))
    event = reply.json()["event"]
    assert event["isBase64Encoded"] is True
    assert event["body"] == "iVBORw0K"
    reply = asyncio.run(call(app, "POST", "/prod/up", headers=[("Content-Type", "text/plain")],
                             body=b"hello"))
    assert reply.json()["event"]["body"] == "hello"
    assert reply.json()["event"]["isBase64Encoded"] is False


def test_v2_event_shape(gateway_for: GatewayFactory) -> None:
    _, app = gateway_for({"/pets/{petId}": {"get": op("echo")}}, kind="http",
                         stage="$default")
    reply = asyncio.run(call(
        app, "GET", "/pets/7", query="a=1&a=2&b=x%20y",
        headers=[("X-Multi", "one"), ("x-multi", "two"), ("Cookie", "s=1; t=2"),
                 ("User-Agent", "ua/1")]))
    assert reply.status == 200, reply.body
    event = reply.json()["event"]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /pets/{petId}"
    assert event["rawPath"] == "/pets/7"
    assert event["rawQueryString"] == "a=1&a=2&b=x%20y"
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x y"}
    assert event["headers"]["x-multi"] == "one,two"
    assert "cookie" not in event["headers"]
    assert event["cookies"] == ["s=1", "t=2"]
    assert event["pathParameters"] == {"petId": "7"}
    assert event["isBase64Encoded"] is False
    assert "body" not in event
    http = event["requestContext"]["http"]
    assert http == {"method": "GET", "path": "/pets/7", "protocol": "HTTP/1.1",
                    "sourceIp": "203.0.113.9", "userAgent": "ua/1"}
    assert event["requestContext"]["stage"] == "$default"
    assert event["requestContext"]["requestId"] == reply.header("x-amzn-RequestId")


def test_v2_payload_on_a_rest_route(gateway_for: GatewayFactory) -> None:
    _, app = gateway_for({"/x": {"post": op("echo", payloadFormatVersion="2.0")}})
    reply = asyncio.run(call(app, "POST", "/prod/x", body=b"{}"))
    event = reply.json()["event"]
    assert event["version"] == "2.0"
    assert event["rawPath"] == "/prod/x"
    assert event["body"] == "{}"
