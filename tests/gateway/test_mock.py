"""MOCK integrations: exported APIs with them load (LocalStack's AWS-recorded OpenAPI files) and
answer as API Gateway does: request templates pick the status, selection patterns the
integration response, responseParameters the headers, response templates the body."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from bastion.clock import FrozenClock
from bastion.config import settings_from_data
from bastion.errors import ConfigError
from bastion.gateway.gateway import build_gateway
from bastion.http.app import BastionApp
from tests.helpers import GatewayFactory, Reply, call

VECTORS = Path(__file__).parent.parent / "vectors" / "apigw"


def app_from(tmp_path: Path, clock: FrozenClock, spec: Path | dict[str, Any],
             **api: Any) -> BastionApp:
    target = tmp_path / "api.json"
    if isinstance(spec, Path):
        shutil.copyfile(spec, target)
    else:
        target.write_text(json.dumps(spec))
    config = {"api": {"openapi": "api.json", "stage": "prod", **api}}
    return BastionApp(build_gateway(settings_from_data(config, tmp_path / "bastion.yaml"),
                                    clock=clock, layers=[]))


def send(app: BastionApp, method: str, path: str, **kw: Any) -> Reply:
    return asyncio.run(call(app, method, path, **kw))


def test_the_console_cors_mocks_answer_with_their_headers(tmp_path: Path,
                                                          clock: FrozenClock) -> None:
    app = app_from(tmp_path, clock, VECTORS / "swagger.json")
    pre = send(app, "OPTIONS", "/prod/test")
    assert pre.status == 200
    assert pre.header("Access-Control-Allow-Methods") == "GET,OPTIONS"
    assert pre.header("Access-Control-Allow-Origin") == "*"
    assert pre.header("Access-Control-Allow-Headers") == (
        "Content-Type,X-Amz-Date,Authorization,X-Api-Key,X-Amz-Security-Token")
    assert pre.header("Content-Type") == "application/json" and pre.body == b""
    assert pre.header("x-amzn-RequestId")
    get = send(app, "GET", "/prod/test")
    assert (get.status, get.header("Access-Control-Allow-Origin")) == (200, "*")


def test_input_params_fill_a_mock_body(tmp_path: Path, clock: FrozenClock) -> None:
    app = app_from(tmp_path, clock, VECTORS / "openapi-mock.json")
    for method in ("GET", "POST", "DELETE"):
        reply = send(app, method, "/prod/echo/hello")
        assert reply.status == 200
        assert json.loads(reply.body) == {"echo": "hello", "response": "mocked"}
    # when_no_templates with templates defined: another media type is refused
    refused = send(app, "POST", "/prod/echo/x", headers=[("Content-Type", "text/plain")],
                   body=b"hi")
    assert (refused.status, refused.json()) == (415, {"message": "Unsupported Media Type"})
    assert refused.header("x-amzn-ErrorType") == "UnsupportedMediaTypeException"


def mock(responses: dict[str, Any], request: str | None = '{"statusCode": 200}',
         **extra: Any) -> dict[str, Any]:
    integ: dict[str, Any] = {"type": "mock", "responses": responses, **extra}
    if request is not None:
        integ["requestTemplates"] = {"application/json": request}
    return {"x-amazon-apigateway-integration": integ}


def spec(paths: dict[str, Any]) -> dict[str, Any]:
    return {"openapi": "3.0.1", "info": {"title": "m", "version": "1"}, "paths": paths}


def test_petstore_home_page_substitutes_context_and_stage_variables(
        tmp_path: Path, clock: FrozenClock) -> None:
    home = mock({"default": {
        "statusCode": "200",
        "responseParameters": {"method.response.header.Content-Type": "'text/html'",
                               "method.response.header.X-Stage": "stageVariables.color"},
        "responseTemplates": {"text/html": '<a href="/$context.stage/pets">pets</a> '
                                           "${context.httpMethod} $!stageVariables.color "
                                           "$input.params('q') costs $5"}}})
    app = app_from(tmp_path, clock, spec({"/": {"get": home}}),
                   stage_variables={"color": "blue"})
    reply = send(app, "GET", "/prod/", query="q=cats")
    assert reply.status == 200
    assert reply.header("Content-Type") == "text/html"
    assert reply.header("X-Stage") == "blue"
    assert reply.body == b'<a href="/prod/pets">pets</a> GET blue cats costs $5'


@pytest.mark.parametrize(("status", "expected"), [
    (200, (201, b'{"ok":true}')), (204, (201, b'{"ok":true}')), (404, (418, b"{}"))])
def test_selection_patterns_before_the_default(tmp_path: Path, clock: FrozenClock,
                                               status: int, expected: tuple[int, bytes]) -> None:
    op = mock({"2\\d\\d": {"statusCode": 201, "responseTemplates": {
                   "application/json": '{"ok":true}'}},
               "default": {"statusCode": "418", "responseTemplates": {"application/json": "{}"}}},
              request=json.dumps({"statusCode": status}))
    app = app_from(tmp_path, clock, spec({"/x": {"get": op}}))
    reply = send(app, "GET", "/prod/x")
    assert (reply.status, reply.body) == expected


def test_no_integration_response_for_the_status_is_a_500(tmp_path: Path,
                                                         clock: FrozenClock) -> None:
    op = mock({"2\\d\\d": {"statusCode": "200"}}, request='{"statusCode": 503}')
    app = app_from(tmp_path, clock, spec({"/x": {"get": op}}))
    reply = send(app, "GET", "/prod/x")
    assert (reply.status, reply.json()) == (500, {"message": "Internal server error"})


@pytest.mark.parametrize(("behavior", "status"), [
    ("when_no_match", 200), ("never", 415), ("when_no_templates", 415)])
def test_passthrough_behaviors_for_an_unmapped_media_type(
        tmp_path: Path, clock: FrozenClock, behavior: str, status: int) -> None:
    op = mock({"default": {"statusCode": "200"}}, passthroughBehavior=behavior)
    app = app_from(tmp_path, clock, spec({"/x": {"post": op}}))
    assert send(app, "POST", "/prod/x").status == 200   # no Content-Type: application/json
    reply = send(app, "POST", "/prod/x", headers=[("Content-Type", "text/plain")], body=b"x")
    assert reply.status == status


def test_the_accept_header_picks_the_response_template(tmp_path: Path,
                                                       clock: FrozenClock) -> None:
    op = mock({"default": {"statusCode": "200", "responseTemplates": {
        "text/plain": "plain", "application/json": '"json"', "application/xml": "<x/>"}}})
    app = app_from(tmp_path, clock, spec({"/x": {"get": op}}))
    for accept, body, ctype in (("application/xml", b"<x/>", "application/xml"),
                                ("text/html", b'"json"', "application/json"),
                                (None, b'"json"', "application/json")):
        headers = [("Accept", accept)] if accept else []
        reply = send(app, "GET", "/prod/x", headers=headers)
        assert (reply.body, reply.header("Content-Type")) == (body, ctype)


@pytest.mark.parametrize(("integration", "message"), [
    (mock({"default": {"statusCode": "200", "responseTemplates": {
        "application/json": "#if($input.path('$.x')) yes #end"}}}),
     "VTL '#if' is not supported in MOCK templates"),
    (mock({"default": {"statusCode": "200"}}, request='{"status": 200}'),
     'a MOCK request template must be {"statusCode": <integer>}'),
    (mock({"default": {"statusCode": "200", "responseTemplates": {
        "application/json": "$context.wafResponseCode"}}}),
     "$context.wafResponseCode is not supported in MOCK templates"),
    (mock({"default": {"statusCode": "200", "responseParameters": {
        "method.response.header.X": "method.request.header.Y"}}}),
     "unsupported response parameter source 'method.request.header.Y'"),
    (mock({"default": {"statusCode": "OK"}}), "statusCode must be an HTTP status"),
    (mock({"default": {"statusCode": "200"}}, passthroughBehavior="sometimes"),
     "must be one of when_no_match, when_no_templates, never"),
])
def test_what_a_mock_cannot_do_is_refused_at_load(tmp_path: Path, clock: FrozenClock,
                                                  integration: dict[str, Any],
                                                  message: str) -> None:
    with pytest.raises(ConfigError) as info:
        app_from(tmp_path, clock, spec({"/x": {"get": integration}}))
    assert message in str(info.value)
    assert "x-amazon-apigateway-integration" in (info.value.key or "")


def test_mock_routes_answer_through_the_whole_pipeline(gateway_for: GatewayFactory) -> None:
    _, app = gateway_for({"/ping": {"get": mock({"default": {
        "statusCode": "200",
        "responseTemplates": {"application/json": '{"pong":"$context.requestId"}'}}})}})
    reply = asyncio.run(call(app, "GET", "/prod/ping"))
    assert reply.status == 200
    assert reply.json() == {"pong": reply.header("x-amzn-RequestId")}
