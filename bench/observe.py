"""Cost of full logging and metrics: the same Bastion proxy with the LOGGING phase on and off.

    python -m bench.observe [--seconds 10]

Target (issue): full logging + metrics cost at most 10 % of throughput.

Both figures are noisy on a shared two-core machine (anything else running lands on the
server's or wrk's CPU); the CPU microseconds per request added by logging (last line) are the
steadier one. Run it several times and compare medians.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import yaml

from bench.harness import NGINX_UPSTREAM, bastion, free_port, measure, nginx, process, wrk
from bench.run import UNTHROTTLED

PATH = "/api/v1/items?id=123&sort=asc"
HEADERS = ("User-Agent: bench/1.0", "Accept: application/json", "X-Request-Id: 42")


def config(directory: Path, upstream: int, extra: dict[str, Any]) -> Path:
    api = {"openapi": "3.0.1", "info": {"title": "b", "version": "1"}, "paths": {
        "/{proxy+}": {"x-amazon-apigateway-any-method": {"x-amazon-apigateway-integration": {
            "type": "http_proxy", "uri": f"http://127.0.0.1:{upstream}/{{proxy}}"}}}}}
    (directory / "api.yaml").write_text(yaml.safe_dump(api))
    cfg = directory / f"bastion-{len(extra)}.yaml"
    # account throttle above what one process serves (API Gateway's default is 10,000 rps,
    # and 429 answers would make the run without logging look cheaper than it is)
    cfg.write_text(yaml.safe_dump({"api": {"openapi": "api.yaml", "stage": "prod"},
                                   "log_dir": str(directory / "logs"),
                                   "throttle": UNTHROTTLED, **extra}))
    return cfg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    s = parser.parse_args().seconds
    results = {}
    with tempfile.TemporaryDirectory() as d, nginx(NGINX_UPSTREAM) as (up, _):
        variants = {
            "logging + metrics off": {"logging": {"enabled": False},
                                      "metrics": {"enabled": False}},
            "full logging + metrics": {},
        }
        for name, extra in variants.items():
            cfg = config(Path(d), up, extra)
            port = free_port()
            with process(bastion(cfg, port), port, ready_path="/_bastion/health") as proc:
                url = f"http://127.0.0.1:{port}/prod{PATH}"
                wrk(url, seconds=1)
                results[name] = measure(proc.pid, url, seconds=s, headers=HEADERS)
    for name, r in results.items():
        print(r.line(name))
    off, on = results["logging + metrics off"], results["full logging + metrics"]
    print(f"\nthroughput cost of logging + metrics: {(1 - on.rps / off.rps) * 100:.1f} % "
          f"(CPU per request +{(on.cpu_us / off.cpu_us - 1) * 100:.1f} %, "
          f"+{on.cpu_us - off.cpu_us:.1f} us)")


if __name__ == "__main__":
    main()
