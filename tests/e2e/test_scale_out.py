"""Several gateway processes sharing one Redis enforce one limit; a dead Redis degrades by
policy and the gateways recover when it returns."""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bastion.auth.apikeys import ApiKeyStore
from tests.e2e.conftest import Server, start, stop
from tests.helpers import free_port
from tests.redis_server import RedisServer, redis_binary

pytestmark = [pytest.mark.e2e, pytest.mark.redis]


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    binary = redis_binary()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is required in CI (apt-get install redis-server)")
        pytest.skip("redis-server not installed")
    server = RedisServer(binary).start()
    try:
        yield server
    finally:
        server.cleanup()


def _write(tmp_path: Path, redis_uri: str, throttle: dict[str, Any]) -> Path:
    echo = {"x-amazon-apigateway-integration": {"type": "aws_proxy",
                                                "uri": "tests.gateway.handlers:echo"}}
    api = {"openapi": "3.0.1", "info": {"title": "t", "version": "1"},
           "components": {"securitySchemes": {"api_key": {
               "type": "apiKey", "name": "x-api-key", "in": "header"}}},
           "paths": {"/open": {"get": echo},
                     "/keyed": {"get": {"security": [{"api_key": []}], **echo}}}}
    (tmp_path / "api.yaml").write_text(yaml.safe_dump(api))
    (tmp_path / "plans.json").write_text(json.dumps([{
        "id": "p", "apiStages": [{"apiId": "bastion", "stage": "prod"}],
        "quota": {"limit": 1_000_000, "period": "DAY"}}]))
    cfg = tmp_path / "bastion.yaml"
    cfg.write_text(yaml.safe_dump({
        "api": {"openapi": "api.yaml", "stage": "prod"},
        "state": redis_uri + "?timeout=0.5&connect_timeout=0.5",
        "throttle": throttle,
        "api_keys": {"store": "keys.json", "usage_plans": "plans.json"},
    }))
    return cfg


def _fleet(cfg: Path, n: int) -> list[Server]:
    servers: list[Server] = []
    try:
        for _ in range(n):
            port = free_port()
            servers.append(start(["serve", "--config", str(cfg), "--port", str(port)], port))
    except Exception:
        for s in servers:
            stop(s)
        raise
    return servers


def _hammer(servers: list[Server], path: str, *, total: int | None = None,
            seconds: float | None = None, threads: int = 8,
            headers: dict[str, str] | None = None,
            log: list[tuple[float, int]] | None = None) -> Counter[int]:
    """Bounded load spread over every process: ``total`` requests or ``seconds`` of them.
    ``log`` collects (send time, status) per request."""
    counts: Counter[int] = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + (seconds or 30.0)
    sent = [0]

    def worker(i: int) -> None:
        n = 0
        while time.monotonic() < deadline:
            with lock:
                if total is not None and sent[0] >= total:
                    return
                sent[0] += 1
            server = servers[(i + n) % len(servers)]
            n += 1
            sent_at = time.monotonic()
            status = server.request("GET", path, headers=headers)[0]
            with lock:
                counts[status] += 1
                if log is not None:
                    log.append((sent_at, status))
    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return counts


def test_four_processes_admit_exactly_the_burst(tmp_path: Path, redis: RedisServer) -> None:
    cfg = _write(tmp_path, redis.uri, {"stage": {"rate": 0.001, "burst": 25}})
    ApiKeyStore(tmp_path / "keys.json").create("k", plans=["p"])
    servers = _fleet(cfg, 4)
    try:
        counts = _hammer(servers, "/prod/open", total=150)
        assert counts == Counter({200: 25, 429: 125})
    finally:
        for s in servers:
            stop(s)


def test_four_processes_hold_the_throttle_rate_within_5_percent(
        tmp_path: Path, redis: RedisServer) -> None:
    # a burst of 10 absorbs scheduling gaps of up to 1/6 s on a busy machine; with burst 1
    # any gap between arrivals longer than 1/rate would waste tokens and skew the count
    rate, burst = 60.0, 10
    cfg = _write(tmp_path, redis.uri, {"stage": {"rate": rate, "burst": burst}})
    ApiKeyStore(tmp_path / "keys.json").create("k", plans=["p"])
    servers = _fleet(cfg, 4)
    try:
        log: list[tuple[float, int]] = []
        counts = _hammer(servers, "/prod/open", seconds=3.0, log=log)
        assert set(counts) <= {200, 429}
        # tokens accrue between the first and the last request the buckets saw
        sends = sorted(t for t, _ in log)
        expected = burst + rate * (sends[-1] - sends[0])
        assert abs(counts[200] - expected) <= 0.05 * expected, (counts, expected)
    finally:
        for s in servers:
            stop(s)


def test_killing_redis_degrades_by_policy_and_recovers(tmp_path: Path,
                                                       redis: RedisServer) -> None:
    cfg = _write(tmp_path, redis.uri, {})
    _, key = ApiKeyStore(tmp_path / "keys.json").create("k", plans=["p"])
    servers = _fleet(cfg, 2)
    keyed = {"x-api-key": key}
    try:
        assert _hammer(servers, "/prod/keyed", total=20, headers=keyed) == Counter({200: 20})
        redis.kill()
        # throttling fails open: the open route keeps answering 200, never 5xx
        assert _hammer(servers, "/prod/open", total=40) == Counter({200: 40})
        # quotas fail closed: the keyed route is refused while Redis is away, never 5xx
        down = _hammer(servers, "/prod/keyed", total=20, headers=keyed)
        assert set(down) == {429}, down
        redis.start()
        deadline = time.monotonic() + 15
        recovered = False
        while time.monotonic() < deadline and not recovered:
            recovered = all(s.request("GET", "/prod/keyed", headers=keyed)[0] == 200
                            for s in servers)
            if not recovered:
                time.sleep(0.2)
        assert recovered
        for s in servers:
            assert s.proc.poll() is None
    finally:
        for s in servers:
            stop(s)
