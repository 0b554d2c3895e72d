"""Real processes on loopback: the demo, header case, workers, graceful shutdown."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import Server, start, stop
from tests.helpers import free_port

pytestmark = pytest.mark.e2e


def test_demo_serves_the_petstore(demo: Server) -> None:
    status, headers, body = demo.request("GET", "/prod/pets/1")
    assert status == 200
    assert json.loads(body) == {"id": 1, "type": "dog", "price": 249.99}
    assert headers["content-type"] == "application/json"
    assert headers["x-amzn-requestid"]
    status, _, body = demo.request("GET", "/prod/pets")
    assert status == 200 and len(json.loads(body)) >= 3
    status, _, body = demo.request("POST", "/prod/pets", b'{"type": "bird", "price": 42.5}',
                                   {"Content-Type": "application/json"})
    assert status == 201 and json.loads(body)["type"] == "bird"


def _bastion_curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bastion.cli", "curl", *args],
                          capture_output=True, text=True, timeout=30)


def test_demo_iam_routes_with_bastion_curl(demo: Server) -> None:
    base = f"http://127.0.0.1:{demo.port}/prod/admin/pets"
    status, _, body = demo.request("GET", "/prod/admin/pets")
    assert status == 403 and body == b'{"message":"Missing Authentication Token"}'
    reader = ["--access-key", "AKIAPETSTOREREADER01", "--secret-key", "demo-reader-secret"]
    admin = ["--access-key", "AKIAPETSTOREADMIN001", "--secret-key", "demo-admin-secret"]
    got = _bastion_curl(*reader, base)
    assert got.returncode == 0 and json.loads(got.stdout)[0]["type"] == "dog"
    got = _bastion_curl("-i", "-X", "POST", "-d", '{"type": "cat", "price": 3}', *reader, base)
    assert "403" in got.stdout and "is not authorized to perform" in got.stdout
    got = _bastion_curl("-X", "POST", "-d", '{"type": "cat", "price": 3}', *admin, base)
    assert json.loads(got.stdout)["type"] == "cat"


def test_demo_web_acl_blocks_attacks(demo: Server) -> None:
    status, headers, body = demo.request("GET", "/prod/pets?id=1%27%20OR%201=1--")
    assert (status, body) == (403, b'{"message":"Forbidden"}')
    assert headers["x-amzn-errortype"] == "WafFilteredException"
    status, _, _ = demo.request("GET", "/prod/pets", headers={"X-Api-Version":
                                                              "${jndi:ldap://x/a}"})
    assert status == 403
    assert demo.request("GET", "/prod/pets?type=dog")[0] == 200


def test_demo_unknown_path_is_the_exact_aws_response(demo: Server) -> None:
    status, headers, body = demo.request("GET", "/prod/nothing-here")
    assert status == 403
    assert body == b'{"message":"Missing Authentication Token"}'
    assert headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    assert headers["content-type"] == "application/json"


def _config(tmp_path: Path, port: int, workers: int = 1) -> Path:
    api = {"openapi": "3.0.1", "info": {"title": "t", "version": "1"}, "paths": {
        "/echo": {"get": {"x-amazon-apigateway-integration": {
            "type": "aws_proxy", "uri": "tests.gateway.handlers:echo"}}},
        "/slow": {"get": {"x-amazon-apigateway-integration": {
            "type": "aws_proxy", "uri": "tests.gateway.handlers:hang",
            "timeoutInMillis": 300}}},
        "/crash": {"get": {"x-amazon-apigateway-integration": {
            "type": "aws_proxy", "uri": "tests.gateway.handlers:crash"}}},
        "/nap": {"get": {"x-amazon-apigateway-integration": {
            "type": "aws_proxy", "uri": "tests.gateway.handlers:nap"}}}}}
    (tmp_path / "api.yaml").write_text(yaml.safe_dump(api))
    cfg = tmp_path / "bastion.yaml"
    cfg.write_text(yaml.safe_dump({"api": {"openapi": "api.yaml", "stage": "prod"},
                                   "server": {"port": port, "workers": workers}}))
    return cfg


def test_header_names_reach_the_handler_with_their_case(tmp_path: Path) -> None:
    port = free_port()
    server = start(["serve", "--config", str(_config(tmp_path, port))], port)
    try:
        status, _, body = server.request("GET", "/prod/echo", headers={"tEsT-HEADeR": "aValUE"})
        assert status == 200
        assert json.loads(body)["event"]["headers"]["tEsT-HEADeR"] == "aValUE"
    finally:
        stop(server)


def test_crashing_and_hanging_handlers_do_not_take_the_server_down(tmp_path: Path) -> None:
    port = free_port()
    server = start(["serve", "--config", str(_config(tmp_path, port))], port)
    try:
        assert server.request("GET", "/prod/crash")[0] == 502
        assert server.request("GET", "/prod/slow")[0] == 504
        assert server.request("GET", "/prod/echo")[0] == 200
        assert server.proc.poll() is None
    finally:
        stop(server)


def test_workers_share_the_port(tmp_path: Path) -> None:
    port = free_port()
    server = start(["serve", "--config", str(_config(tmp_path, port, workers=2))], port)
    try:
        results: list[int] = []

        def hit() -> None:
            for _ in range(10):
                results.append(server.request("GET", "/prod/echo")[0])
        threads = [threading.Thread(target=hit) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [200] * 40
    finally:
        assert stop(server) == 0


def test_graceful_shutdown_finishes_in_flight_requests(tmp_path: Path) -> None:
    port = free_port()
    server = start(["serve", "--config", str(_config(tmp_path, port))], port)
    results: list[tuple[int, bytes]] = []

    def slow_request() -> None:
        status, _, body = server.request("GET", "/prod/nap")
        results.append((status, body))
    t = threading.Thread(target=slow_request)
    t.start()
    time.sleep(0.2)  # the request is now in the handler (it naps 0.5 s)
    server.proc.send_signal(signal.SIGTERM)
    t.join(timeout=10)
    assert results == [(200, b"rested")]
    # uvicorn re-raises the signal after a graceful shutdown: -SIGTERM, not a crash code
    assert server.proc.wait(timeout=10) in (0, -signal.SIGTERM)


def test_workers_keep_one_valid_audit_chain_each(tmp_path: Path) -> None:
    from bastion.observe.audit import verify
    from bastion.observe.audit.signing import load_public_key

    port = free_port()
    cfg = _config(tmp_path, port, workers=2)
    data = yaml.safe_load(cfg.read_text())
    data["audit"] = {"dir": "audit", "key_dir": "keys", "data_plane": True}
    cfg.write_text(yaml.safe_dump(data))
    server = start(["serve", "--config", str(cfg)], port)
    try:
        for _ in range(20):
            assert server.request("GET", "/prod/echo")[0] == 200
    finally:
        assert stop(server) == 0
    public = load_public_key((tmp_path / "keys" / "audit-public.pem").read_bytes())
    slots = sorted((tmp_path / "audit").glob("worker-*"))
    assert len(slots) == 2
    now = time.time()
    for slot in slots:
        report = verify(slot, public, start=now - 3600, end=now + 1)
        assert report.ok, report
