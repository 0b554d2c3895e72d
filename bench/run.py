"""Gateway-core benchmark: Bastion as a pure proxy and with the PetStore handlers, beside a
plain nginx proxy in the same run.

    python -m bench.run [--seconds 10]

Prints requests/s and latency for each, and the Bastion-proxy / nginx-proxy ratio.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import yaml

from bench.harness import (
    NGINX_PROXY,
    NGINX_UPSTREAM,
    bastion,
    free_port,
    measure,
    nginx,
    post_script,
    process,
    wrk,
)

PATH = "/api/v1/items?id=123&sort=asc&fields=name,price"
UNTHROTTLED = {"rate": 1e9, "burst": 1_000_000_000}
HEADERS = ("User-Agent: bench/1.0", "Accept: application/json",
           "Authorization: Bearer abc.def.ghi", "X-Request-Id: 42")


def proxy_config(directory: Path, upstream: int) -> Path:
    api = {"openapi": "3.0.1", "info": {"title": "bench", "version": "1"}, "paths": {
        "/{proxy+}": {"x-amazon-apigateway-any-method": {"x-amazon-apigateway-integration": {
            "type": "http_proxy", "uri": f"http://127.0.0.1:{upstream}/{{proxy}}",
            "requestParameters": {"integration.request.path.proxy":
                                  "method.request.path.proxy"}}}}}}
    (directory / "api.yaml").write_text(yaml.safe_dump(api))
    cfg = directory / "bastion.yaml"
    # a pure proxy: no logging phase (bench/observe.py measures logging on its own), and an
    # account throttle above what one process serves: past API Gateway's default 10,000 rps
    # the run would measure 429 answers (the bucket is still taken on every request)
    cfg.write_text(yaml.safe_dump({"api": {"openapi": "api.yaml", "stage": "prod"},
                                   "logging": {"enabled": False},
                                   "metrics": {"enabled": False}, "throttle": UNTHROTTLED}))
    return cfg


def petstore_config(directory: Path) -> Path:
    """The PetStore's GET /pets/{petId} handler alone (the demo's Web ACL would rate-limit
    the benchmark after 1000 requests, as it should)."""
    api = {"openapi": "3.0.1", "info": {"title": "petstore", "version": "1"}, "paths": {
        "/pets/{petId}": {"get": {"x-amazon-apigateway-integration": {
            "type": "aws_proxy", "uri": "bastion.demo.petstore:get_pet"}}}}}
    (directory / "petstore.yaml").write_text(yaml.safe_dump(api))
    cfg = directory / "petstore-bastion.yaml"
    cfg.write_text(yaml.safe_dump({"api": {"openapi": "petstore.yaml", "stage": "prod"},
                                   "logging": {"enabled": False},
                                   "metrics": {"enabled": False}, "throttle": UNTHROTTLED}))
    return cfg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    s = args.seconds
    body = ('{"name":"widget","price":9.99,"tags":[' + ",".join(
        f'"tag{i}"' for i in range(120)) + "]}").encode()[:1024]
    post = post_script(body)
    print(f"wrk -t1 -c32 -d{s}s; wrk on CPU 0, servers on CPU 1\n")
    with tempfile.TemporaryDirectory() as d, nginx(NGINX_UPSTREAM) as (up, _):
        cfg = proxy_config(Path(d), up)
        with nginx(NGINX_PROXY, upstream=up) as (px, pid):
            wrk(f"http://127.0.0.1:{px}{PATH}", seconds=1)
            ng_get = measure(pid, f"http://127.0.0.1:{px}{PATH}", seconds=s, headers=HEADERS)
            ng_post = measure(pid, f"http://127.0.0.1:{px}/api/v1/items", seconds=s,
                              script=post)
        port = free_port()
        with process(bastion(cfg, port), port, ready_path="/_bastion/health") as proc:
            url = f"http://127.0.0.1:{port}/prod{PATH}"
            wrk(url, seconds=1)
            b_get = measure(proc.pid, url, seconds=s, headers=HEADERS)
            b_post = measure(proc.pid, f"http://127.0.0.1:{port}/prod/api/v1/items",
                             seconds=s, script=post)
        port = free_port()
        demo = petstore_config(Path(d))
        with process(bastion(demo, port), port, ready_path="/_bastion/health") as proc:
            url = f"http://127.0.0.1:{port}/prod/pets/1"
            wrk(url, seconds=1)
            b_pet = measure(proc.pid, url, seconds=s, headers=HEADERS)
    print(ng_get.line("nginx proxy_pass, GET"))
    print(b_get.line("bastion http_proxy, GET"))
    print(ng_post.line("nginx proxy_pass, POST 1 KB"))
    print(b_post.line("bastion http_proxy, POST 1 KB"))
    print(b_pet.line("bastion PetStore handler, GET"))
    print()
    print(f"bastion/nginx proxy ratio (req/s): GET {b_get.rps / ng_get.rps:.2f}x, "
          f"POST {b_post.rps / ng_post.rps:.2f}x")
    print(f"bastion/nginx proxy CPU per request: GET {b_get.cpu_us / ng_get.cpu_us:.2f}x, "
          f"POST {b_post.cpu_us / ng_post.cpu_us:.2f}x")


if __name__ == "__main__":
    main()
