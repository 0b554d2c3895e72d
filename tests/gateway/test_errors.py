"""Every gateway-generated error, byte for byte, and the process surviving bad handlers."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.gateway import handlers
from tests.helpers import GatewayFactory, call, op

VECTORS = Path(__file__).parent.parent / "vectors" / "apigw"
ROUTING = json.loads((VECTORS / "test_apigateway_common.snapshot.json").read_text())[
    "tests/aws/services/apigateway/test_apigateway_common.py::TestApigatewayRouting::"
    "test_routing_not_found"]["recorded-content"]


@pytest.mark.parametrize(("method", "path", "recorded"), [
    ("GET", "/prod/does-not-exist", "not-found"),
    ("DELETE", "/prod/exists", "wrong-method"),
    ("GET", "/other-stage/exists", "not-found"),
    ("GET", "/", "not-found"),
    ("GET", "/prodx/exists", "not-found"),
])
def test_unknown_route_is_missing_authentication_token(
        gateway_for: GatewayFactory, method: str, path: str, recorded: str) -> None:
    _, app = gateway_for({"/exists": {"get": op("echo")}})
    reply = asyncio.run(call(app, method, path))
    expected = ROUTING[recorded]
    assert reply.status == 403
    assert reply.json() == expected["content"]
    assert reply.body == b'{"message":"Missing Authentication Token"}'
    assert reply.header("x-amzn-ErrorType") == expected["errorType"]
    assert reply.header("Content-Type") == "application/json"
    assert reply.header("x-amzn-RequestId")


def test_existing_route_still_answers(gateway_for: GatewayFactory) -> None:
    _, app = gateway_for({"/exists": {"get": op("echo")}})
    assert asyncio.run(call(app, "GET", "/prod/exists")).status == 200


def test_handler_exception_is_502_and_the_gateway_keeps_serving(
        gateway_for: GatewayFactory) -> None:
    _, app = gateway_for({"/crash": {"get": op("crash")}, "/ok": {"get": op("echo")}})

    async def scenario() -> None:
        for _ in range(3):
            reply = await call(app, "GET", "/prod/crash")
            assert reply.status == 502
            assert reply.body == b'{"message": "Internal server error"}'
            assert reply.header("x-amzn-ErrorType") == "InternalServerErrorException"
            assert b"boom" not in reply.body
        assert (await call(app, "GET", "/prod/ok")).status == 200
    asyncio.run(scenario())


@pytest.mark.parametrize("handler", ["hang", "async_hang"])
def test_handler_timeout_is_504_and_the_gateway_keeps_serving(
        gateway_for: GatewayFactory, handler: str) -> None:
    _, app = gateway_for({"/slow": {"get": op(handler, timeoutInMillis=50)},
                          "/ok": {"get": op("echo")}})
    handlers.RELEASE.clear()

    async def scenario() -> None:
        reply = await call(app, "GET", "/prod/slow")
        assert reply.status == 504
        assert reply.body == b'{"message": "Endpoint request timed out"}'
        assert reply.header("x-amzn-ErrorType") == "InternalServerErrorException"
        assert (await call(app, "GET", "/prod/ok")).status == 200
    try:
        asyncio.run(scenario())
    finally:
        handlers.RELEASE.set()


def test_async_handler(gateway_for: GatewayFactory) -> None:
    _, app = gateway_for({"/a/{proxy+}": {"get": op("async_echo")}})
    reply = asyncio.run(call(app, "GET", "/prod/a/b/c"))
    assert reply.status == 200
    assert reply.json() == {"path": "/a/b/c", "rawPath": None}


def test_body_over_the_limit_is_413(gateway_for: GatewayFactory) -> None:
    _, app = gateway_for({"/up": {"post": op("echo")}}, limits={"max_body_bytes": 100})
    reply = asyncio.run(call(app, "POST", "/prod/up", body=b"x" * 101,
                             headers=[("Content-Length", "101")]))
    assert reply.status == 413
    assert reply.body == b"HTTP content length exceeded 100 bytes."
    # a chunked body without Content-Length is counted as it arrives
    reply = asyncio.run(call(app, "POST", "/prod/up", chunks=[b"x" * 60, b"x" * 60]))
    assert reply.status == 413
    reply = asyncio.run(call(app, "POST", "/prod/up", chunks=[b"x" * 50, b"x" * 50]))
    assert reply.status == 200


def test_default_body_limit_is_api_gateways_10_mb(gateway_for: GatewayFactory) -> None:
    gw, app = gateway_for({"/up": {"post": op("echo")}})
    assert gw.settings.limits.max_body_bytes == 10 * 1024 * 1024
    reply = asyncio.run(call(app, "POST", "/prod/up",
                             headers=[("Content-Length", str(10 * 1024 * 1024 + 1))]))
    assert reply.status == 413
    assert reply.body == b"HTTP content length exceeded 10485760 bytes."


def test_too_many_headers_is_431(gateway_for: GatewayFactory) -> None:
    _, app = gateway_for({"/x": {"get": op("echo")}}, limits={"max_headers": 5})
    headers = [(f"X-H{i}", "v") for i in range(6)]
    assert asyncio.run(call(app, "GET", "/prod/x", headers=headers)).status == 431
    assert asyncio.run(call(app, "GET", "/prod/x", headers=headers[:4])).status == 200


def test_oversized_headers_are_431(gateway_for: GatewayFactory) -> None:
    _, app = gateway_for({"/x": {"get": op("echo")}}, limits={"max_header_bytes": 200})
    assert asyncio.run(call(app, "GET", "/prod/x",
                            headers=[("X-Big", "v" * 300)])).status == 431


GATEWAY_RESPONSES = {
    "DEFAULT_4XX": {
        "responseParameters": {
            "gatewayresponse.header.Access-Control-Allow-Origin": "'*'",
            "gatewayresponse.header.X-Echo": "method.request.header.X-Trace"},
    },
    "MISSING_AUTHENTICATION_TOKEN": {
        "statusCode": 404,
        "responseTemplates": {
            "application/json": '{"error":$context.error.messageString,'
                                '"type":"$context.error.responseType",'
                                '"id":"$context.requestId"}'},
    },
    "DEFAULT_5XX": {
        "responseParameters": {"gatewayresponse.header.Access-Control-Allow-Origin": "'*'"},
    },
}


def test_custom_gateway_responses_and_cors_on_errors(gateway_for: GatewayFactory) -> None:
    _, app = gateway_for({"/crash": {"get": op("crash")}}, extra_doc={
        "x-amazon-apigateway-gateway-responses": GATEWAY_RESPONSES})
    reply = asyncio.run(call(app, "GET", "/prod/nope", headers=[("X-Trace", "t-1")]))
    assert reply.status == 404
    assert reply.json() == {"error": "Missing Authentication Token",
                            "type": "MISSING_AUTHENTICATION_TOKEN",
                            "id": reply.header("x-amzn-RequestId")}
    # the type's own customisation replaces DEFAULT_4XX (as AWS), so no CORS header here
    assert reply.header("Access-Control-Allow-Origin") is None
    reply = asyncio.run(call(app, "GET", "/prod/crash"))
    assert reply.status == 502
    assert reply.header("Access-Control-Allow-Origin") == "*"


def test_default_4xx_applies_to_every_uncustomised_4xx(gateway_for: GatewayFactory) -> None:
    _, app = gateway_for({"/x": {"post": op("echo")}}, extra_doc={
        "x-amazon-apigateway-gateway-responses": {"DEFAULT_4XX": GATEWAY_RESPONSES[
            "DEFAULT_4XX"]}})
    reply = asyncio.run(call(app, "GET", "/prod/nope", headers=[("X-Trace", "t-9")]))
    assert reply.status == 403
    assert reply.header("Access-Control-Allow-Origin") == "*"
    assert reply.header("X-Echo") == "t-9"
    assert reply.body == b'{"message":"Missing Authentication Token"}'


def test_unknown_gateway_response_type_is_a_config_error(gateway_for: GatewayFactory) -> None:
    from bastion.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown gateway response type 'NOPE'"):
        gateway_for({"/x": {"get": op("echo")}}, extra_doc={
            "x-amazon-apigateway-gateway-responses": {"NOPE": {}}})
