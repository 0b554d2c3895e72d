"""Edge + gateway as two real processes (pattern (a), the seed's architecture): through the
edge 200 with the client's address, direct 403 as AWS words it, a body altered between the two
refused, and credentials rotating under load without a failed request."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, Server, start, stop
from tests.edge import configs
from tests.edge.net import CLIENT, fetch
from tests.edge.tamper import tampering_relay
from tests.helpers import free_port

pytestmark = pytest.mark.e2e

TOKEN = "bootstrap-token-for-the-e2e-tests-0001"
ENV = {"EDGE_TOKEN": TOKEN, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}
@dataclass
class Split:
    gateway: Server
    edge: Server


@contextmanager
def running_split(tmp_path: Path, *, origin_port: int | None = None,
                  **credential_extra: object) -> Iterator[Split]:
    gw_port, edge_port = free_port(), free_port()
    gw_cfg = configs.iam_gateway(tmp_path / "gw")
    gateway = start(["serve", "--config", str(gw_cfg), "--port", str(gw_port)], gw_port, ENV)
    try:
        target = origin_port if origin_port is not None else gw_port
        edge_cfg = configs.edge(tmp_path / "edge", target, {
            "credentials": {**configs.sts_credentials(gw_port), **credential_extra}})
        edge = start(["serve", "--config", str(edge_cfg), "--port", str(edge_port)],
                     edge_port, ENV)
        try:
            yield Split(gateway, edge)
        finally:
            stop(edge)
    finally:
        stop(gateway)


@pytest.fixture
def split(tmp_path: Path) -> Iterator[Split]:
    with running_split(tmp_path) as running:
        yield running


def test_through_the_edge_200_with_the_client_address(split: Split) -> None:
    status, _, body = fetch(split.edge.port, "POST", "/prod/echo?a=1&b=x%20y",
                            b'{"amount": 100}', {"Content-Type": "application/json",
                                                 "X-Forwarded-For": "6.6.6.6"})
    assert status == 200, body
    seen = json.loads(body)
    assert seen["sourceIp"] == CLIENT
    assert seen["xff"] == CLIENT
    assert seen["host"] == f"127.0.0.1:{split.gateway.port}"
    assert seen["body"] == '{"amount": 100}'
    assert seen["query"] == {"a": "1", "b": "x y"}
    assert seen["user"].startswith(
        f"arn:aws:sts::{configs.ACCOUNT}:assumed-role/edge-signer/")
    assert seen["accessKey"].startswith("ASIA")
    status, _, body = fetch(split.edge.port, "GET", "/prod/echo/it%20em")
    assert status == 200, body
    assert json.loads(body)["path"] == "/echo/it%20em"


def test_a_chunked_body_is_buffered_and_signed(split: Split) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", split.edge.port, timeout=10,
                                      source_address=(CLIENT, 0))
    try:
        parts = [b"part-%d;" % i * 50 for i in range(20)]
        conn.request("POST", "/prod/echo", body=iter(parts), encode_chunked=True,
                     headers={"Transfer-Encoding": "chunked"})
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    assert resp.status == 200, body
    assert json.loads(body)["body"] == b"".join(parts).decode()


def test_direct_access_is_403_missing_authentication_token(split: Split) -> None:
    status, headers, body = fetch(split.gateway.port, "POST", "/prod/echo", b"{}")
    assert status == 403
    assert body == b'{"message":"Missing Authentication Token"}'
    assert headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"


def test_the_credential_endpoint_refuses_without_the_bootstrap_token(split: Split) -> None:
    port = split.gateway.port
    for headers in ({}, {"Authorization": "Bearer not-the-token"}):
        status, _, body = fetch(port, "POST", "/_bastion/sts/assume-role", b"{}", headers)
        assert status == 403
        assert json.loads(body)["Error"]["Code"] == "AccessDenied"
    assert TOKEN not in split.gateway.output()
    assert TOKEN not in split.edge.output()


def test_a_body_altered_between_edge_and_gateway_is_refused(tmp_path: Path) -> None:
    gw_port = free_port()
    # the relay sits where the edge thinks the origin is; start it before the edge
    with tampering_relay(gw_port, [(b"TAMPER-ME", b"TAMPERED!")]) as relay_port:
        gw_cfg = configs.iam_gateway(tmp_path / "gw")
        gateway = start(["serve", "--config", str(gw_cfg), "--port", str(gw_port)], gw_port,
                        ENV)
        try:
            edge_port = free_port()
            edge_cfg = configs.edge(tmp_path / "edge", relay_port, {
                "credentials": configs.sts_credentials(gw_port)})
            edge = start(["serve", "--config", str(edge_cfg), "--port", str(edge_port)],
                         edge_port, ENV)
            try:
                status, _, body = fetch(edge_port, "POST", "/prod/echo", b"pay 100 OK")
                assert status == 200, body  # the relay itself changes nothing else
                status, headers, body = fetch(edge_port, "POST", "/prod/echo",
                                              b"pay 100 TAMPER-ME")
                assert status == 403
                assert headers["x-amzn-errortype"] == "InvalidSignatureException"
                assert json.loads(body)["message"] == (
                    "The provided 'x-amz-content-sha256' header does not match what was "
                    "computed.")
                status, headers, body = fetch(edge_port, "GET", "/prod/echo?to=TAMPER-ME")
                assert status == 403
                assert headers["x-amzn-errortype"] == "InvalidSignatureException"
                assert json.loads(body)["message"].startswith(
                    "The request signature we calculated does not match")
            finally:
                stop(edge)
        finally:
            stop(gateway)


def test_credentials_rotate_under_load_without_a_failed_request(tmp_path: Path) -> None:
    failures: list[tuple[int, bytes]] = []
    keys: set[str] = set()
    lock = threading.Lock()
    done = threading.Event()
    counts = [0]

    def client(port: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                          source_address=(CLIENT, 0))
        try:
            while not done.is_set():
                status, _, body = fetch(port, "POST", "/prod/echo", b"x" * 64, conn=conn)
                with lock:
                    counts[0] += 1
                    if status != 200:
                        failures.append((status, body))
                    else:
                        keys.add(json.loads(body)["accessKey"])
                    if counts[0] >= 3000 or (counts[0] >= 300 and len(keys) >= 4):
                        done.set()
        finally:
            conn.close()

    # the edge refreshes every 0.25 s: many rotations within the run
    with running_split(tmp_path, max_age_s=0.25) as split:
        threads = [threading.Thread(target=client, args=(split.edge.port,)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    assert not failures, failures[:3]
    assert counts[0] >= 300
    assert len(keys) >= 4, f"{len(keys)} keys over {counts[0]} requests"


def test_demo_split_prints_and_serves_both_lines(tmp_path: Path) -> None:
    edge_port, gw_port = free_port(), free_port()
    demo = start(["demo", "--split", "--port", str(edge_port), "--gateway-port", str(gw_port),
                  "--workdir", str(tmp_path / "demo")], edge_port,
                 {"PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"})
    try:
        out = demo.output()
        assert f"curl -s http://127.0.0.1:{edge_port}/prod/admin/pets" in out
        assert f"curl -si http://127.0.0.1:{gw_port}/prod/admin/pets" in out
        status, _, body = fetch(edge_port, "GET", "/prod/admin/pets")
        assert status == 200, body
        assert json.loads(body)[0]["type"] == "dog"
        status, _, body = fetch(gw_port, "GET", "/prod/admin/pets")
        assert (status, body) == (403, b'{"message":"Missing Authentication Token"}')
        assert f'curl -si "http://127.0.0.1:{edge_port}/prod/admin/pets?id=1' in out
        status, headers, _ = fetch(edge_port, "GET", "/prod/admin/pets?id=1%27%20OR%201=1--")
        assert status == 403
        assert headers["x-amzn-errortype"] == "WafFilteredException"
    finally:
        assert stop(demo) == 0
    with pytest.raises(OSError):  # the gateway child went with it
        fetch(gw_port, "GET", "/_bastion/health")


def test_the_edge_recovers_when_the_gateway_restarts(tmp_path: Path) -> None:
    """The restarted gateway has forgotten the edge's session: the edge's first signed request
    is refused as UnrecognizedClient, and the edge fetches new credentials and retries."""
    with running_split(tmp_path) as split:
        assert fetch(split.edge.port, "GET", "/prod/echo")[0] == 200
        before = json.loads(fetch(split.edge.port, "GET", "/prod/echo")[2])["accessKey"]
        stop(split.gateway)
        gw_cfg = tmp_path / "gw" / "gateway.yaml"
        again = start(["serve", "--config", str(gw_cfg), "--port", str(split.gateway.port)],
                      split.gateway.port, ENV)
        try:
            status, _, body = fetch(split.edge.port, "GET", "/prod/echo")
            assert status == 200, body
            assert json.loads(body)["accessKey"] != before
        finally:
            stop(again)
