"""Test helpers: call the ASGI app in-process, and find free loopback ports."""

from __future__ import annotations

import socket
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bastion.clock import FrozenClock
from bastion.config import settings_from_data
from bastion.gateway.gateway import Gateway, build_gateway
from bastion.http.app import BastionApp


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self) -> Any:
        import json

        return json.loads(self.body)


async def call(app: BastionApp, method: str, path: str, *, query: str = "",
               headers: list[tuple[str, str]] | None = None, body: bytes = b"",
               chunks: list[bytes] | None = None, client: str = "203.0.113.9") -> Reply:
    """Drive the ASGI app the way uvicorn does, including chunked request bodies."""
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in (headers or [])]
    names = [k.encode() for k, _ in (headers or [])]
    if not any(k == b"host" for k, _ in raw_headers):
        raw_headers.append((b"host", b"api.example.com"))
        names.append(b"Host")
    scope = {
        "type": "http", "method": method, "path": path, "raw_path": path.encode(),
        "query_string": query.encode(), "headers": raw_headers, "http_version": "1.1",
        "scheme": "http", "client": (client, 50000), "server": ("127.0.0.1", 8080),
        "bastion.header_names": names,
    }
    parts = list(chunks) if chunks is not None else [body]
    messages = [{"type": "http.request", "body": p, "more_body": i < len(parts) - 1}
                for i, p in enumerate(parts)]
    reply = Reply(0)

    async def receive() -> MutableMapping[str, Any]:
        if messages:
            return messages.pop(0)
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            reply.status = message["status"]
            reply.headers = [(k.decode(), v.decode()) for k, v in message["headers"]]
        elif message["type"] == "http.response.body":
            reply.body += message.get("body", b"")

    await app(scope, receive, send)
    return reply


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

H = "tests.gateway.handlers"


def op(handler: str, **extra: Any) -> dict[str, Any]:
    return {"x-amazon-apigateway-integration": {"type": "aws_proxy", "httpMethod": "POST",
                                                "uri": f"{H}:{handler}", **extra}}


def write_api(tmp_path: Path, paths: dict[str, Any], *, kind: str = "rest", stage: str = "prod",
              extra_doc: dict[str, Any] | None = None, **settings: Any) -> Path:
    doc = {"openapi": "3.0.1", "info": {"title": "t", "version": "1"}, "paths": paths,
           **(extra_doc or {})}
    (tmp_path / "api.yaml").write_text(yaml.safe_dump(doc))
    cfg = {"api": {"openapi": "api.yaml", "kind": kind, "stage": stage,
                   "account_id": "123456789012", "api_id": "a1b2c3"}, **settings}
    path = tmp_path / "bastion.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


GatewayFactory = Callable[..., tuple[Gateway, BastionApp]]


def gateway_for(tmp_path: Path, clock: FrozenClock) -> GatewayFactory:
    """A factory building a gateway from inline OpenAPI paths: no optional layers unless
    ``layers=`` names some (e.g. ``[throttle_layer]``)."""
    def make(paths: dict[str, Any], layers: list[Any] | None = None,
             **kw: Any) -> tuple[Gateway, BastionApp]:
        cfg = write_api(tmp_path, paths, **kw)
        gw = build_gateway(settings_from_data(yaml.safe_load(cfg.read_text()), cfg), clock=clock,
                           layers=layers or [])
        return gw, BastionApp(gw)
    return make
