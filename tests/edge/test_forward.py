"""The edge forwarder in-process against a real loopback origin: what the origin receives in
each signing mode, injected headers, payload limits, and the retry after a refused key."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bastion.auth.sigv4 import Credentials
from bastion.clock import FrozenClock
from bastion.config import load_settings
from bastion.edge.forward import EdgeForwardStage
from bastion.edge.layer import edge_layer
from bastion.edge.provider import AssumeRoleProvider, IssuedCredentials
from bastion.errors import ConfigError
from bastion.gateway.gateway import build_gateway
from bastion.http.app import BastionApp
from bastion.pipeline import Exchange, Interruption, Phase
from tests.edge import configs
from tests.helpers import call

AK, SK = "AKIAEDGESTATIC000001", "edge-static-secret"


class Origin:
    """Records each request; answers 403 UnrecognizedClientException to refused keys."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.refused: set[str] = set()
        self.port = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, target, _ = line.decode().split(" ", 2)
                headers: list[tuple[str, str]] = []
                while (h := await reader.readline()) not in (b"\r\n", b""):
                    k, _, v = h.decode("latin-1").rstrip("\r\n").partition(":")
                    headers.append((k.lower(), v.strip()))
                n = int(dict(headers).get("content-length", "0"))
                body = await reader.readexactly(n) if n else b""
                req = {"method": method, "target": target, "headers": headers, "body": body}
                self.requests.append(req)
                auth = dict(headers).get("authorization", "")
                if any(k in auth for k in self.refused):
                    out, status = b'{"message":"invalid token"}', "403 Forbidden"
                    extra = "x-amzn-ErrorType: UnrecognizedClientException\r\n"
                else:
                    out, status, extra = b'{"ok":true}', "200 OK", ""
                writer.write(f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}"
                             f"Content-Length: {len(out)}\r\n\r\n".encode() + out)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


def header(req: dict[str, Any], name: str) -> str | None:
    return next((v for k, v in req["headers"] if k == name), None)


Scenario = Callable[[BastionApp, Origin], Awaitable[None]]


def run(tmp_path: Path, edge: dict[str, Any], scenario: Scenario,
        monkeypatch: pytest.MonkeyPatch, clock: FrozenClock | None = None,
        layers: list[Any] | None = None, prefix: str = "/prod") -> None:
    monkeypatch.setenv("EDGE_AK", AK)
    monkeypatch.setenv("EDGE_SK", SK)
    monkeypatch.setenv("EDGE_API_KEY", "injected-api-key-0001")

    async def main() -> None:
        origin = Origin()
        await origin.start()
        try:
            cfg = configs.edge(tmp_path, origin.port, edge, prefix=prefix)
            gw = build_gateway(load_settings(cfg), clock=clock or FrozenClock(1_750_000_000.0),
                               layers=layers)
            try:
                await scenario(BastionApp(gw), origin)
            finally:
                await gw.close()
        finally:
            origin.close()
    asyncio.run(main())


STATIC = {"access_key_env": "EDGE_AK", "secret_key_env": "EDGE_SK"}


def test_always_signs_and_replaces_client_signing_headers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(app: BastionApp, origin: Origin) -> None:
        reply = await call(app, "POST", "/prod/pets/1", query="x=1", body=b'{"a":1}',
                           headers=[("Authorization", "client-token"),
                                    ("X-Amz-Date", "19990101T000000Z"),
                                    ("Content-Type", "application/json"),
                                    ("x-api-key", "client-supplied")])
        assert reply.status == 200
        [req] = origin.requests
        assert req["target"] == "/prod/pets/1?x=1"
        assert header(req, "host") == f"127.0.0.1:{origin.port}"
        assert header(req, "x-forwarded-for") == "203.0.113.9"
        assert header(req, "x-forwarded-host") == "api.example.com"
        assert header(req, "x-amz-date") == "20250615T150640Z"
        assert str(header(req, "authorization")).startswith(
            f"AWS4-HMAC-SHA256 Credential={AK}/20250615/us-east-1/execute-api/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-forwarded-for,")
        assert header(req, "x-api-key") == "injected-api-key-0001"
        assert [k for k, _ in req["headers"]].count("x-api-key") == 1
        assert header(req, "x-amz-content-sha256") == (
            "015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862")
    run(tmp_path, {"credentials": STATIC,
                   "set_headers": {"x-api-key": {"env": "EDGE_API_KEY"}}}, scenario, monkeypatch)


def test_no_override_keeps_a_client_signature(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(app: BastionApp, origin: Origin) -> None:
        await call(app, "GET", "/prod/a", headers=[("Authorization", "AWS4-HMAC-SHA256 mine"),
                                                    ("X-Amz-Date", "20250615T150000Z")])
        await call(app, "GET", "/prod/b")
        signed_by_client, signed_by_edge = origin.requests
        assert header(signed_by_client, "authorization") == "AWS4-HMAC-SHA256 mine"
        assert header(signed_by_client, "x-amz-date") == "20250615T150000Z"
        assert f"Credential={AK}/" in str(header(signed_by_edge, "authorization"))
    run(tmp_path, {"signing": "no-override", "credentials": STATIC}, scenario, monkeypatch)


@pytest.mark.parametrize(("mode", "want"), [
    ("replace", "203.0.113.9"), ("append", "6.6.6.6, 203.0.113.9")])
def test_forwarded_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str,
                       want: str) -> None:
    async def scenario(app: BastionApp, origin: Origin) -> None:
        await call(app, "GET", "/prod/a", headers=[("X-Forwarded-For", "6.6.6.6")])
        [req] = origin.requests
        assert [v for k, v in req["headers"] if k == "x-forwarded-for"] == [want]
    run(tmp_path, {"credentials": STATIC, "forwarded_for": mode}, scenario, monkeypatch)


def test_never_forwards_unsigned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(app: BastionApp, origin: Origin) -> None:
        await call(app, "GET", "/prod/a", headers=[("Authorization", "Bearer abc")])
        [req] = origin.requests
        assert header(req, "authorization") == "Bearer abc"
        assert header(req, "x-amz-date") is None
    run(tmp_path, {"signing": "never"}, scenario, monkeypatch)


@pytest.mark.parametrize(("payload", "status", "sha"), [
    ("signed", 413, None), ("auto", 200, "UNSIGNED-PAYLOAD"), ("unsigned", 200,
                                                               "UNSIGNED-PAYLOAD")])
def test_body_above_the_signing_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      payload: str, status: int, sha: str | None) -> None:
    async def scenario(app: BastionApp, origin: Origin) -> None:
        reply = await call(app, "PUT", "/prod/blob", chunks=[b"x" * 600, b"y" * 600])
        assert reply.status == status
        if sha is None:
            assert origin.requests == []
            assert reply.json() == {"message": "Request Too Long"}
        else:
            assert header(origin.requests[0], "x-amz-content-sha256") == sha
            assert origin.requests[0]["body"] == b"x" * 600 + b"y" * 600
    run(tmp_path, {"credentials": STATIC, "payload": payload, "max_signed_body_bytes": 1000},
        scenario, monkeypatch)


def test_unprotected_origins_are_left_to_the_plain_proxy(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(app: BastionApp, origin: Origin) -> None:
        await call(app, "GET", "/prod/a")
        assert header(origin.requests[0], "authorization") is None
    run(tmp_path, {"credentials": STATIC, "origins": ["http://127.0.0.1:1"]}, scenario,
        monkeypatch)


def test_a_refused_key_is_replaced_and_the_request_retried_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FrozenClock(1_750_000_000.0)
    issued: list[str] = []

    async def fetch() -> IssuedCredentials:
        key = f"ASIAROTATED{len(issued):09d}"
        issued.append(key)
        return IssuedCredentials(Credentials.of(key, "s", "t"), clock.time(),
                                 clock.time() + 900)

    async def scenario(app: BastionApp, origin: Origin) -> None:
        stage = app.gateway.ctx.resources["edge_forwarder"]
        assert isinstance(stage, EdgeForwardStage)
        stage.credentials = AssumeRoleProvider(fetch, clock)
        assert (await call(app, "GET", "/prod/a")).status == 200
        origin.refused.add(issued[0])  # the gateway forgot the session (a restart)
        reply = await call(app, "GET", "/prod/b")
        assert reply.status == 200
        assert len(issued) == 2 and len(origin.requests) == 3
        origin.refused.add(issued[1])
        origin.refused.add("ASIAROTATED000000002")  # refused again: answered, not looped
        reply = await call(app, "GET", "/prod/c")
        assert reply.status == 403
        assert reply.header("x-amzn-ErrorType") == "UnrecognizedClientException"
    run(tmp_path, {"credentials": STATIC}, scenario, monkeypatch, clock)


class Firewall:
    """A FIREWALL-phase stage standing in for the Web ACL."""

    name = "firewall"
    phase = Phase.FIREWALL
    priority = 0

    def run(self, ex: Exchange) -> Interruption | None:
        if "attack" in ex.request.query_string:
            return Interruption("WAF_FILTERED", source="firewall")
        return None


def test_the_firewall_runs_before_anything_is_forwarded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(app: BastionApp, origin: Origin) -> None:
        blocked = await call(app, "GET", "/prod/a", query="q=attack")
        assert (blocked.status, blocked.json()) == (403, {"message": "Forbidden"})
        assert origin.requests == []
        assert (await call(app, "GET", "/prod/a", query="q=fine")).status == 200
        assert len(origin.requests) == 1
    run(tmp_path, {"credentials": STATIC}, scenario, monkeypatch,
        layers=[edge_layer, lambda ctx: [Firewall()]])


def test_a_header_from_a_file_follows_the_file(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "origin-secret.txt"
    secret.write_text("first-secret\n")

    async def scenario(app: BastionApp, origin: Origin) -> None:
        await call(app, "GET", "/prod/a")
        secret.write_text("second-secret-rotated\n")
        await call(app, "GET", "/prod/a")
        secret.unlink()  # mid-rotation, briefly missing: the last value stays
        await call(app, "GET", "/prod/a")
        assert [header(r, "x-origin-verify") for r in origin.requests] == [
            "first-secret", "second-secret-rotated", "second-secret-rotated"]
    run(tmp_path, {"signing": "never",
                   "set_headers": {"X-Origin-Verify": {"file": "origin-secret.txt"}}},
        scenario, monkeypatch)


def test_the_origins_own_endpoints_are_never_forwarded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(app: BastionApp, origin: Origin) -> None:
        reply = await call(app, "POST", "/prod/_bastion/sts/assume-role", body=b"{}")
        assert (reply.status, reply.json()) == (403, {"message": "Missing Authentication Token"})
        assert origin.requests == []
        assert (await call(app, "GET", "/prod/pets")).status == 200
        assert origin.requests[0]["target"] == "/pets"
    run(tmp_path, {"credentials": STATIC}, scenario, monkeypatch, prefix="")


@pytest.mark.parametrize(("edge", "message"), [
    ({}, "signing needs edge.credentials"),
    ({"signing": "sometimes", "credentials": STATIC}, "must be one of"),
    ({"credentials": {"role": "x"}}, "set endpoint"),
    ({"credentials": {"endpoint": "ftp://x/y"}}, "http(s)"),
    ({"credentials": {"endpoint": "http://127.0.0.1:1/_bastion/sts/assume-role"}},
     "is required"),
    ({"credentials": STATIC, "set_headers": {"x-k": "plain"}}, "{env: NAME}"),
    ({"credentials": STATIC, "set_headers": {"x-k": {"env": "NOPE_UNSET_1"}}}, "unset"),
    ({"credentials": STATIC, "set_headers": {"x-k": {"file": "missing.txt"}}}, "not found"),
    ({"credentials": STATIC, "origins": ["nope"]}, "origin"),
    ({"credentials": STATIC, "tls": {"ca_file": "nope.pem"}}, "not found"),
    ({"credentials": dict(STATIC, refresh_at=1.5)}, "fraction"),
    ({"credentials": STATIC, "surprise": 1}, "unknown key"),
])
def test_config_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                       edge: dict[str, Any], message: str) -> None:
    monkeypatch.setenv("EDGE_AK", AK)
    monkeypatch.setenv("EDGE_SK", SK)
    cfg = configs.edge(tmp_path, 9, edge)
    with pytest.raises(ConfigError) as info:
        build_gateway(load_settings(cfg), clock=FrozenClock())
    rendered = json.dumps([e.render() for e in getattr(info.value, "errors", [info.value])])
    assert message in rendered, rendered

