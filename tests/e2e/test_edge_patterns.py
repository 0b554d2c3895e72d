"""Origin lock-down patterns (b)-(d) with two real processes: through the edge allowed, direct
refused with AWS's answer; and a shared-secret rotation under load that loses no request.
(Pattern (a), IAM/SigV4, is tests/e2e/test_edge_split.py.)"""

from __future__ import annotations

import http.client
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bastion.auth.apikeys import ApiKeyStore
from tests.e2e.conftest import ROOT, Server, start, stop
from tests.edge import configs
from tests.edge.net import CLIENT, fetch
from tests.helpers import free_port

pytestmark = pytest.mark.e2e

PYPATH = {"PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}
EXPLICIT_DENY = (b'{"Message":"User is not authorized to access this resource with an '
                 b'explicit deny"}')


def atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@contextmanager
def pair(tmp_path: Path, origin_doc: dict[str, Any], edge_section: dict[str, Any], *,
         gateway_sections: dict[str, Any] | None = None, server: dict[str, Any] | None = None,
         env: dict[str, str] | None = None) -> Iterator[tuple[Server, Server]]:
    gw_port, edge_port = free_port(), free_port()
    gw_cfg = configs.write(tmp_path / "gw", "gateway", {"server": server or {}}, origin_doc,
                           **(gateway_sections or {}))
    full_env = {**PYPATH, **(env or {})}
    gateway = start(["serve", "--config", str(gw_cfg), "--port", str(gw_port)], gw_port,
                    full_env)
    try:
        edge_cfg = configs.edge(tmp_path / "edge", gw_port, edge_section)
        edge = start(["serve", "--config", str(edge_cfg), "--port", str(edge_port)], edge_port,
                     full_env)
        try:
            yield gateway, edge
        finally:
            stop(edge)
    finally:
        stop(gateway)


# -- (b) shared secret header checked by a custom authorizer --------------------------------

def _secret_api() -> dict[str, Any]:
    scheme = {"type": "apiKey", "name": "X-Origin-Verify", "in": "header",
              "x-amazon-apigateway-authtype": "custom",
              "x-amazon-apigateway-authorizer": {
                  "type": "token", "authorizerUri": "bastion.edge.authorizers:shared_secret",
                  "identitySource": "method.request.header.X-Origin-Verify",
                  "authorizerResultTtlInSeconds": 0}}
    return configs.origin_api([{"EdgeSecret": []}], schemes={"EdgeSecret": scheme})


def test_b_shared_secret_rotates_without_losing_a_request(tmp_path: Path) -> None:
    gw_secrets = tmp_path / "gw-secrets.txt"
    atomic_write(gw_secrets, "old-secret-0001\n")
    (tmp_path / "edge").mkdir()
    edge_secret = tmp_path / "edge" / "origin-secret.txt"
    atomic_write(edge_secret, "old-secret-0001\n")
    edge_section = {"signing": "never",
                    "set_headers": {"X-Origin-Verify": {"file": "origin-secret.txt"}}}
    with pair(tmp_path, _secret_api(), edge_section,
              env={"BASTION_EDGE_SECRETS_FILE": str(gw_secrets)}) as (gateway, edge):
        # refused paths: no header 401, a wrong one the explicit deny
        status, _, body = fetch(gateway.port, "GET", "/prod/echo")
        assert (status, body) == (401, b'{"message":"Unauthorized"}')
        status, _, body = fetch(gateway.port, "GET", "/prod/echo",
                                headers={"X-Origin-Verify": "guess"})
        assert (status, body) == (403, EXPLICIT_DENY)
        # the client cannot smuggle its own value through the edge either: it is replaced
        status, _, body = fetch(edge.port, "GET", "/prod/echo",
                                headers={"X-Origin-Verify": "guess"})
        assert status == 200, body
        assert json.loads(body)["sourceIp"] == "127.0.0.1"  # XFF not trusted on this origin

        failures: list[tuple[int, bytes]] = []
        count = [0]
        cond = threading.Condition()
        done = threading.Event()

        def client() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", edge.port, timeout=10,
                                              source_address=(CLIENT, 0))
            try:
                while not done.is_set():
                    status, _, body = fetch(edge.port, "GET", "/prod/echo", conn=conn)
                    with cond:
                        count[0] += 1
                        if status != 200:
                            failures.append((status, body))
                        cond.notify_all()
            finally:
                conn.close()

        def after(n: int) -> None:
            with cond:
                target = count[0] + n
                assert cond.wait_for(lambda: count[0] >= target or bool(failures), timeout=30)

        threads = [threading.Thread(target=client) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            after(50)
            atomic_write(gw_secrets, "old-secret-0001\nnew-secret-00000002\n")  # both valid
            after(50)
            atomic_write(edge_secret, "new-secret-00000002\n")  # the edge switches
            after(50)
            atomic_write(gw_secrets, "new-secret-00000002\n")  # the old one retires
            after(100)
        finally:
            done.set()
            for t in threads:
                t.join(timeout=30)
        assert not failures, failures[:3]
        status, _, body = fetch(gateway.port, "GET", "/prod/echo",
                                headers={"X-Origin-Verify": "old-secret-0001"})
        assert (status, body) == (403, EXPLICIT_DENY)
        status, _, body = fetch(gateway.port, "GET", "/prod/echo",
                                headers={"X-Origin-Verify": "new-secret-00000002"})
        assert status == 200


# -- (c) API key injected by the edge --------------------------------------------------------

def test_c_api_key_injected_by_the_edge(tmp_path: Path) -> None:
    (tmp_path / "gw").mkdir()
    key = "EdgeInjectedKey000000000000000000001"
    ApiKeyStore(tmp_path / "gw" / "keys.json").create("edge", plans=["edge"], value=key)
    (tmp_path / "gw" / "plans.json").write_text(json.dumps([{
        "id": "edge", "name": "Edge", "apiStages": [{"apiId": "gateway", "stage": "prod"}],
        "throttle": {"rateLimit": 1000.0, "burstLimit": 2000}}]))
    api = configs.origin_api(None)
    for methods in api["paths"].values():
        for op in methods.values():
            op["x-amazon-apigateway-api-key-required"] = True
    edge_section = {"signing": "never", "set_headers": {"x-api-key": {"env": "EDGE_API_KEY"}}}
    with pair(tmp_path, api, edge_section,
              gateway_sections={"api_keys": {"store": "keys.json",
                                             "usage_plans": "plans.json"}},
              env={"EDGE_API_KEY": key}) as (gateway, edge):
        status, _, body = fetch(edge.port, "GET", "/prod/echo")
        assert status == 200, body
        status, headers, body = fetch(gateway.port, "GET", "/prod/echo")
        assert (status, body) == (403, b'{"message":"Forbidden"}')
        assert headers["x-amzn-errortype"] == "ForbiddenException"
        status, _, body = fetch(gateway.port, "GET", "/prod/echo",
                                headers={"x-api-key": "NotTheKey00000000000000000000000001"})
        assert (status, body) == (403, b'{"message":"Forbidden"}')
        assert key not in edge.output() and key not in gateway.output()


# -- (d) only the edge's source addresses ----------------------------------------------------

def test_d_resource_policy_source_ip(tmp_path: Path) -> None:
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke",
         "Resource": "execute-api:/*"},
        {"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke",
         "Resource": "execute-api:/*",
         "Condition": {"NotIpAddress": {"aws:SourceIp": ["127.0.0.1/32"]}}}]}
    api = configs.origin_api(None, extra_doc={"x-amazon-apigateway-policy": policy})
    with pair(tmp_path, api, {"signing": "never"}) as (gateway, edge):
        status, _, body = fetch(edge.port, "POST", "/prod/echo", b"hi")
        assert status == 200, body
        status, headers, body = fetch(gateway.port, "POST", "/prod/echo", b"hi")
        assert status == 403
        assert headers["x-amzn-errortype"] == "AccessDeniedException"
        assert json.loads(body) == {"Message": (
            "User: anonymous is not authorized to perform: execute-api:Invoke on resource: "
            "arn:aws:execute-api:us-east-1:********9012:gateway/prod/POST/echo "
            "with an explicit deny")}


def test_d_source_ip_authorizer(tmp_path: Path) -> None:
    scheme = {"type": "apiKey", "name": "Unused", "in": "header",
              "x-amazon-apigateway-authtype": "custom",
              "x-amazon-apigateway-authorizer": {
                  "type": "request", "authorizerUri": "bastion.edge.authorizers:source_ip",
                  "authorizerResultTtlInSeconds": 0}}
    api = configs.origin_api([{"EdgeOnly": []}], schemes={"EdgeOnly": scheme})
    with pair(tmp_path, api, {"signing": "never"},
              env={"BASTION_EDGE_SOURCE_IPS": "127.0.0.1/32"}) as (gateway, edge):
        status, _, body = fetch(edge.port, "GET", "/prod/echo")
        assert status == 200, body
        status, _, body = fetch(gateway.port, "GET", "/prod/echo")
        assert (status, body) == (403, EXPLICIT_DENY)
