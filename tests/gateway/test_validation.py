"""Request validators: AWS's messages for missing parameters and invalid bodies."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from bastion.errors import ConfigError
from bastion.gateway.validation import validation_layer
from tests.helpers import GatewayFactory, call, op

VECTORS = Path(__file__).parent.parent / "vectors" / "apigw"
RECORDED = json.loads((VECTORS / "test_apigateway_common.snapshot.json").read_text())[
    "tests/aws/services/apigateway/test_apigateway_common.py::TestApiGatewayCommon::"
    "test_api_gateway_request_validator"]["recorded-content"]

VALIDATORS = {"x-amazon-apigateway-request-validators": {
    "all": {"validateRequestBody": True, "validateRequestParameters": True},
    "params-only": {"validateRequestBody": False, "validateRequestParameters": True}}}

PET = {"type": "object", "required": ["type", "price"],
       "properties": {"type": {"type": "string"}, "price": {"type": "number", "minimum": 0}}}


def paths() -> dict[str, Any]:
    params = [{"name": "issuer", "in": "path", "required": True, "schema": {"type": "string"}},
              {"name": "qs1", "in": "query", "required": True, "schema": {"type": "string"}},
              {"name": "x-header-param", "in": "header", "required": True,
               "schema": {"type": "string"}}]
    return {
        "/{issuer}/pets": {"post": {**op("echo"), "parameters": params,
                                    "x-amazon-apigateway-request-validator": "all",
                                    "requestBody": {"content": {"application/json": {
                                        "schema": {"$ref": "#/components/schemas/Pet"}}}}},
                           "get": {**op("echo"), "parameters": params,
                                   "x-amazon-apigateway-request-validator": "params-only"}},
    }


def app(gateway_for: GatewayFactory) -> Any:
    _, a = gateway_for(paths(), layers=[validation_layer],
                       extra_doc={**VALIDATORS, "components": {"schemas": {"Pet": PET}}})
    return a


def send(a: Any, method: str, query: str = "", headers: list[tuple[str, str]] | None = None,
         body: bytes = b"") -> Any:
    return asyncio.run(call(a, method, "/prod/acme/pets", query=query, headers=headers,
                            body=body))


def test_missing_parameters_are_listed_as_aws_does(gateway_for: GatewayFactory) -> None:
    a = app(gateway_for)
    reply = send(a, "GET", query="qs1=test")
    assert reply.status == 400
    assert reply.json() == RECORDED["missing-required-headers-request-params-get"]
    assert reply.header("x-amzn-ErrorType") == "BadRequestException"
    reply = send(a, "GET", headers=[("x-header-param", "test")])
    assert reply.json() == RECORDED["missing-required-qs-request-params-get"]
    reply = send(a, "GET", query="qs1=%20", headers=[("x-header-param", " ")])  # blank
    assert reply.json() == {"message": "Missing required request parameters: "
                                       "[x-header-param, qs1]"}
    assert send(a, "GET", query="qs1=a", headers=[("x-header-param", "b")]).status == 200


def test_invalid_body(gateway_for: GatewayFactory) -> None:
    a = app(gateway_for)
    h = [("x-header-param", "b")]
    for body in (b'{"type": "dog"}', b'{"type": "dog", "price": -1}', b"not json", b""):
        reply = send(a, "POST", query="qs1=a", headers=h, body=body)
        assert reply.status == 400, body
        assert reply.json() == RECORDED["invalid-request-body"]
    ok = send(a, "POST", query="qs1=a", headers=h, body=b'{"type": "dog", "price": 3}')
    assert ok.status == 200


def test_unknown_validator_is_a_config_error(gateway_for: GatewayFactory) -> None:
    p = {"/x": {"get": {**op("echo"), "x-amazon-apigateway-request-validator": "nope"}}}
    with pytest.raises(ConfigError, match="request validator 'nope' is not defined"):
        gateway_for(p, layers=[validation_layer])
