"""Cost of full logging and metrics: the same Bastion proxy with the LOGGING phase on and off.

    python -m bench.observe [--seconds 16] [--rounds 4] [--calibrate] [--crs] [--waf-filter]

Target (issue): full logging + metrics cost at most 10 % of throughput. A third variant,
metrics without log lines (``logging: {enabled: false}``, the configuration bench.waf runs),
shows what /metrics alone costs. ``--crs`` runs every variant behind the OWASP CRS at paranoia
level 1 (Debian's modsecurity-crs, as bench.waf), the cost on a gateway that inspects requests.

Both figures are noisy on a shared two-core machine (anything else running lands on the
server's or wrk's CPU); the CPU microseconds per request added by logging (last line) are the
steadier one. Both servers run side by side and the variants alternate over several rounds;
the medians are printed. ``--calibrate`` gives both variants the same config, which shows how
much of a difference the measurement itself makes.

The servers use the C log renderer (``bastion.observe._lines``) when the install built it;
``BASTION_NATIVE_LOGS=0 python -m bench.observe`` measures the Python renderer instead.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import yaml

from bench.harness import (
    NGINX_UPSTREAM,
    WrkResult,
    bastion,
    free_port,
    measure,
    nginx,
    process,
    wrk,
)
from bench.run import UNTHROTTLED

PATH = "/api/v1/items?id=123&sort=asc"
HEADERS = ("User-Agent: bench/1.0", "Accept: application/json", "X-Request-Id: 42")


def config(directory: Path, upstream: int, extra: dict[str, Any], name: str) -> Path:
    api = {"openapi": "3.0.1", "info": {"title": "b", "version": "1"}, "paths": {
        "/{proxy+}": {"x-amazon-apigateway-any-method": {"x-amazon-apigateway-integration": {
            "type": "http_proxy", "uri": f"http://127.0.0.1:{upstream}/{{proxy}}"}}}}}
    (directory / "api.yaml").write_text(yaml.safe_dump(api))
    cfg = directory / name
    # account throttle above what one process serves (API Gateway's default is 10,000 rps,
    # and 429 answers would make the run without logging look cheaper than it is)
    cfg.write_text(yaml.safe_dump({"api": {"openapi": "api.yaml", "stage": "prod"},
                                   "log_dir": str(directory / "logs"),
                                   "throttle": UNTHROTTLED, **extra}))
    return cfg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=16,
                        help="measured seconds per variant, split over the rounds")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--calibrate", action="store_true",
                        help="run the same config (logging off) as both variants: the "
                             "difference printed is the measurement's own noise")
    parser.add_argument("--crs", action="store_true",
                        help="every variant runs the OWASP CRS (PL1, blocking) in front")
    parser.add_argument("--waf-filter", action="store_true",
                        help="a fourth variant: full logging with a LoggingFilter that keeps "
                             "only BLOCK and COUNT WAF records (none here: all are allowed)")
    parser.add_argument("--verbose", action="store_true", help="print every round")
    args = parser.parse_args()
    per_round = max(1, round(args.seconds / args.rounds))
    off_cfg = {"logging": {"enabled": False}, "metrics": {"enabled": False}}
    variants = {OFF: off_cfg, ON: off_cfg if args.calibrate else {}}
    if not args.calibrate:
        variants[METRICS] = {"logging": {"enabled": False}}
    if args.waf_filter and not args.calibrate:
        variants[FILTERED] = {"logging": {"waf_logging_configuration": "waf-logging.json"}}
    if args.crs:
        variants = {name: {**extra, **CRS} for name, extra in variants.items()}
    # a name, not the numeric Host wrk sends: CRS 920350 would match every request
    headers = (*HEADERS, "Host: localhost") if args.crs else HEADERS
    runs: dict[str, list[WrkResult]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as d, nginx(NGINX_UPSTREAM) as (up, _), \
            ExitStack() as servers:
        procs: dict[str, tuple[int, str]] = {}
        (Path(d) / "waf-logging.json").write_text(json.dumps(WAF_FILTER))
        for i, (name, extra) in enumerate(variants.items()):
            cfg = config(Path(d), up, extra, f"bastion-{i}.yaml")
            port = free_port()
            proc = servers.enter_context(process(bastion(cfg, port), port,
                                                 ready_path="/_bastion/health"))
            url = f"http://127.0.0.1:{port}/prod{PATH}"
            procs[name] = (proc.pid, url)
            wrk(url, seconds=1)
        # alternate the variants, so drift over the run (other load, heat, a growing log
        # directory) lands on both instead of on whichever ran second
        for rnd in range(args.rounds):
            order = list(procs) if rnd % 2 == 0 else list(reversed(procs))
            for name in order:
                pid, url = procs[name]
                runs[name].append(measure(pid, url, seconds=per_round, headers=headers))
                if args.verbose:
                    print(runs[name][-1].line(f"  round {rnd + 1}: {name}"), flush=True)
    results = {name: median_result(rs) for name, rs in runs.items()}
    for name, r in results.items():
        print(r.line(name))
    off = results[OFF]
    for name in (METRICS, ON, FILTERED):
        if name not in results:
            continue
        on = results[name]
        print(f"\nthroughput cost of {name}: {(1 - on.rps / off.rps) * 100:.1f} % "
              f"(CPU per request +{(on.cpu_us / off.cpu_us - 1) * 100:.1f} %, "
              f"+{on.cpu_us - off.cpu_us:.1f} us; medians of {args.rounds} alternating rounds"
              f"{', calibration: both variants without logging' if args.calibrate else ''})")

OFF, ON = "logging + metrics off", "full logging + metrics"
METRICS = "metrics only"
FILTERED = "logging, WAF records filtered"
# AWS WAF's LoggingFilter keeping what a security team reads: blocks and counts
WAF_FILTER = {"LoggingConfiguration": {"LoggingFilter": {"DefaultBehavior": "DROP", "Filters": [
    {"Behavior": "KEEP", "Requirement": "MEETS_ANY",
     "Conditions": [{"ActionCondition": {"Action": "BLOCK"}},
                    {"ActionCondition": {"Action": "COUNT"}}]}]}}}
CRS = {"waf": {"crs": {"paranoia": 1, "mode": "blocking"}}}


def median_result(results: list[WrkResult]) -> WrkResult:
    """Per-field medians of several runs of one variant."""
    def med(values: list[float]) -> float:
        return statistics.median(values)
    return WrkResult(med([r.rps for r in results]), med([r.p50_ms for r in results]),
                     med([r.p99_ms for r in results]), sum(r.errors for r in results),
                     sum(r.requests for r in results), med([r.cpu_us for r in results]))


if __name__ == "__main__":
    main()
