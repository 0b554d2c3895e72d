"""http_proxy integrations against a real origin on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from tests.helpers import GatewayFactory, call, free_port
from tests.http.upstream_server import Origin, start_origin


def proxy(uri: str, **extra: Any) -> dict[str, Any]:
    return {"x-amazon-apigateway-integration": {"type": "http_proxy", "httpMethod": "ANY",
                                                "uri": uri, **extra}}


def run(scenario: Callable[[Origin], Awaitable[None]]) -> None:
    async def main() -> None:
        origin = await start_origin()
        try:
            await scenario(origin)
        finally:
            origin.close()
    asyncio.run(main())


def test_forwards_method_path_query_headers_and_body(gateway_for: GatewayFactory) -> None:
    async def scenario(origin: Origin) -> None:
        _, app = gateway_for({"/api/{proxy+}": {"x-amazon-apigateway-any-method": proxy(
            f"http://127.0.0.1:{origin.port}/base/{{proxy}}",
            requestParameters={"integration.request.path.proxy": "method.request.path.proxy"})}})
        reply = await call(app, "POST", "/prod/api/items/42", query="q=a%20b&x=1",
                           headers=[("Content-Type", "application/json"),
                                    ("X-Custom", "yes"), ("Connection", "keep-alive, X-Drop"),
                                    ("X-Drop", "secret"), ("Keep-Alive", "timeout=5"),
                                    ("X-Forwarded-For", "198.51.100.1")],
                           body=b'{"a":1}')
        assert reply.status == 200
        seen = reply.json()
        assert seen["method"] == "POST"
        assert seen["target"] == "/base/items/42?q=a%20b&x=1"
        assert seen["body"] == '{"a":1}'
        names = {k.lower(): v for k, v in seen["headers"]}
        assert names["x-custom"] == "yes"
        assert names["host"] == "api.example.com"  # the client's Host, unless rewritten
        assert names["x-forwarded-for"] == "198.51.100.1, 203.0.113.9"
        assert names["x-forwarded-proto"] == "http"
        assert names["x-forwarded-host"] == "api.example.com"
        for hop in ("connection", "keep-alive", "x-drop"):
            assert hop not in names
        assert names["content-length"] == "7"
        # hop-by-hop response headers are stripped; the ones API Gateway owns are remapped
        assert reply.header("Keep-Alive") is None and reply.header("Connection") is None
        assert reply.header("x-amzn-Remapped-Connection") == "keep-alive"
        assert reply.header("x-amzn-Remapped-Content-Length") == reply.header("Content-Length")
        assert reply.header("X-Origin") == "yes"
    run(scenario)


def test_host_rewrite_for_reverse_proxy_waf_mode(gateway_for: GatewayFactory) -> None:
    async def scenario(origin: Origin) -> None:
        _, app = gateway_for({"/x": {"get": proxy(f"http://127.0.0.1:{origin.port}/x")}},
                             upstream={"rewrite_host": True})
        seen = (await call(app, "GET", "/prod/x")).json()
        assert dict((k.lower(), v) for k, v in seen["headers"])["host"] == \
            f"127.0.0.1:{origin.port}"
    run(scenario)


def test_keep_alive_connections_are_reused(gateway_for: GatewayFactory) -> None:
    async def scenario(origin: Origin) -> None:
        _, app = gateway_for({"/x": {"get": proxy(f"http://127.0.0.1:{origin.port}/x")}})
        for _ in range(20):
            assert (await call(app, "GET", "/prod/x")).status == 200
        assert origin.connections == 1
        # concurrent requests open more connections, then reuse them
        results = await asyncio.gather(*(call(app, "GET", "/prod/x") for _ in range(10)))
        assert all(r.status == 200 for r in results)
        assert origin.connections <= 10
    run(scenario)


def test_stale_pooled_connection_is_retried_for_idempotent_requests(
        gateway_for: GatewayFactory) -> None:
    async def scenario(origin: Origin) -> None:
        _, app = gateway_for({"/{p+}": {"get": proxy(f"http://127.0.0.1:{origin.port}/{{p}}")}})
        assert (await call(app, "GET", "/prod/ok")).status == 200
        # the origin closes the pooled connection without answering: retried on a new one
        reply = await call(app, "GET", "/prod/close")
        assert reply.status == 502  # /close never answers, even on the fresh connection
        assert (await call(app, "GET", "/prod/ok")).status == 200
    run(scenario)


def test_origin_status_passes_through(gateway_for: GatewayFactory) -> None:
    async def scenario(origin: Origin) -> None:
        _, app = gateway_for({"/{p+}": {"get": proxy(f"http://127.0.0.1:{origin.port}/{{p}}")}})
        assert (await call(app, "GET", "/prod/missing")).status == 404
    run(scenario)


def test_streamed_body_arrives_whole(gateway_for: GatewayFactory) -> None:
    async def scenario(origin: Origin) -> None:
        _, app = gateway_for({"/s": {"get": proxy(f"http://127.0.0.1:{origin.port}/stream")}})
        reply = await call(app, "GET", "/prod/s")
        assert reply.status == 200
        expected = b"".join((f"line {i}\n" * 200).encode() for i in range(50))
        assert reply.body == expected
        assert reply.header("Transfer-Encoding") is None
        assert reply.header("X-Up") == "1"
    run(scenario)


def test_refused_origin_is_502(gateway_for: GatewayFactory) -> None:
    port = free_port()
    _, app = gateway_for({"/x": {"get": proxy(f"http://127.0.0.1:{port}/x")}})
    reply = asyncio.run(call(app, "GET", "/prod/x"))
    assert reply.status == 502
    assert reply.body == b'{"message": "Internal server error"}'


def test_slow_origin_is_504(gateway_for: GatewayFactory) -> None:
    async def scenario(origin: Origin) -> None:
        _, app = gateway_for({"/x": {"get": proxy(f"http://127.0.0.1:{origin.port}/slow",
                                                  timeoutInMillis=100)},
                              "/ok": {"get": proxy(f"http://127.0.0.1:{origin.port}/ok")}})
        reply = await call(app, "GET", "/prod/x")
        assert reply.status == 504
        assert reply.body == b'{"message": "Endpoint request timed out"}'
        assert (await call(app, "GET", "/prod/ok")).status == 200
    run(scenario)


def test_unroutable_connect_times_out_as_504(gateway_for: GatewayFactory) -> None:
    # A listening socket whose accept backlog is full never completes the handshake.
    import socket

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    port = srv.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        _, app = gateway_for({"/x": {"get": proxy(f"http://127.0.0.1:{port}/x")}},
                             upstream={"connect_timeout_ms": 100, "read_timeout_ms": 200})
        reply = asyncio.run(call(app, "GET", "/prod/x"))
        assert reply.status == 504
    finally:
        for s in fillers:
            s.close()
        srv.close()


def test_request_parameters_map_values_into_upstream_headers(gateway_for: GatewayFactory) -> None:
    async def scenario(origin: Origin) -> None:
        _, app = gateway_for({"/x": {"get": proxy(
            f"http://127.0.0.1:{origin.port}/x", requestParameters={
                "integration.request.header.X-Static": "'fixed'",
                "integration.request.header.X-From-Query": "method.request.querystring.q",
                "integration.request.header.X-Request-Id": "context.requestId",
                "integration.request.header.X-Missing": "context.authorizer.claims.sub",
                "integration.request.header.X-Client": "context.identity.sourceIp"})}})
        reply = await call(app, "GET", "/prod/x", query="q=hello",
                           headers=[("X-Static", "spoofed")])
        seen = {k.lower(): v for k, v in reply.json()["headers"]}
        assert seen["x-static"] == "fixed"  # the mapping replaces what the client sent
        assert seen["x-from-query"] == "hello"
        assert seen["x-request-id"] == reply.header("x-amzn-RequestId")
        assert seen["x-client"] == "203.0.113.9"
        assert "x-missing" not in seen  # no authorizer: the header is left out, as on AWS
    run(scenario)


def test_authorizer_claims_can_be_mapped() -> None:
    from bastion.clock import FrozenClock
    from bastion.gateway.integrations.mapping import compile_source
    from bastion.pipeline import Exchange, Headers, Request

    clock = FrozenClock()
    ex = Exchange(Request("GET", "/x", "", Headers()), "rid", clock.time(), clock.monotonic())
    ex.authorizer = {"claims": {"sub": "alice", "admin": True}, "principalId": "p-1"}
    assert compile_source("context.authorizer.claims.sub")(ex) == "alice"
    assert compile_source("context.authorizer.claims.admin")(ex) == "true"
    assert compile_source("context.authorizer.principalId")(ex) == "p-1"
    assert compile_source("context.authorizer.claims.none")(ex) is None


def test_unknown_mapping_source_is_a_config_error(gateway_for: GatewayFactory) -> None:
    import pytest

    from bastion.errors import ConfigError

    with pytest.raises(ConfigError, match="unsupported request parameter source"):
        gateway_for({"/x": {"get": proxy("http://127.0.0.1:1/x", requestParameters={
            "integration.request.header.X": "stageVariables.nope"})}})
