"""Per-request cost of the Redis state backend against in-process memory: the same Bastion
(throttling + an API-key usage plan with a quota on every request) with `state: memory://`
and with `state: redis://` to a local redis-server, in one run.

    python -m bench.state [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.redis_server import RedisServer

from bench.harness import NGINX_UPSTREAM, bastion, free_port, measure, nginx, process, wrk

KEY = "BenchKey000000000000000000000001"


def config(directory: Path, upstream: int, state: str) -> Path:
    from bastion.auth.apikeys import ApiKeyStore

    api = {"openapi": "3.0.1", "info": {"title": "b", "version": "1"},
           "components": {"securitySchemes": {"api_key": {
               "type": "apiKey", "name": "x-api-key", "in": "header"}}},
           "paths": {"/{proxy+}": {"x-amazon-apigateway-any-method": {
               "security": [{"api_key": []}],
               "x-amazon-apigateway-integration": {
                   "type": "http_proxy", "uri": f"http://127.0.0.1:{upstream}/{{proxy}}"}}}}}
    (directory / "api.yaml").write_text(yaml.safe_dump(api))
    (directory / "plans.json").write_text(json.dumps([{
        "id": "p", "apiStages": [{"apiId": "bastion", "stage": "prod"}],
        "throttle": {"rateLimit": 1e9, "burstLimit": 1_000_000_000},
        "quota": {"limit": 1_000_000_000, "period": "DAY"}}]))
    keys = directory / "keys.json"
    if not keys.exists():
        ApiKeyStore(keys).create("bench", plans=["p"], value=KEY)
    name = "memory" if state.startswith("memory") else "redis"
    cfg = directory / f"bastion-{name}.yaml"
    cfg.write_text(yaml.safe_dump({
        "api": {"openapi": "api.yaml", "stage": "prod"}, "state": state,
        "api_keys": {"store": "keys.json", "usage_plans": "plans.json"},
        "logging": {"enabled": False}, "metrics": {"enabled": False}}))
    return cfg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    s = parser.parse_args().seconds
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is required: apt-get install redis-server")
    redis = RedisServer(binary).start()
    results = {}
    try:
        with tempfile.TemporaryDirectory() as d, nginx(NGINX_UPSTREAM) as (up, _):
            for state in ("memory://", redis.uri):
                cfg = config(Path(d), up, state)
                port = free_port()
                with process(bastion(cfg, port), port, ready_path="/_bastion/health") as p:
                    url = f"http://127.0.0.1:{port}/prod/items"
                    headers = (f"x-api-key: {KEY}",)
                    wrk(url, seconds=1, headers=headers)
                    results[state.split(":")[0]] = measure(p.pid, url, seconds=s,
                                                           headers=headers)
    finally:
        redis.cleanup()
    for name, r in results.items():
        print(r.line(f"state {name}"))
    mem, red = results["memory"], results["redis"]
    print(f"\nredis/memory req/s ratio: {red.rps / mem.rps:.2f}x "
          f"(+{red.cpu_us - mem.cpu_us:.0f} CPU us per request)")


if __name__ == "__main__":
    main()
