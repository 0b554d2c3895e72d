"""Dashboard queries over 1M synthetic WAF log records spread over 3 days (target: each < 250 ms).

    PYTHONPATH=src python bench/logs_bench.py [N] [--keep DIR]

Generates N (default 1,000,000) AWS-WAF-schema records as hot JSON lines in date partitions,
compacts them to Parquet with ``LogStore.compact`` (DuckDB only), then times each dashboard query
(best of 5 runs on the store's cached sandboxed connection, as a dashboard would; the
cold first query, which builds the connection, is printed too). Prints one line per query
and a final ``max_query_ms=<n>`` figure.
"""

from __future__ import annotations

import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import orjson

from bastion.observe.analytics import LogStore

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
DAYS = 3

QUERIES = {
    "top_blocked_rules": "SELECT terminatingRuleId, count(*) AS n FROM waf_logs "
                         "WHERE action = 'BLOCK' GROUP BY 1 ORDER BY n DESC LIMIT 10",
    "top_client_ips": "SELECT client_ip, count(*) AS n, count(*) FILTER (action = 'BLOCK') "
                      "AS blocked FROM waf_logs GROUP BY 1 ORDER BY n DESC LIMIT 10",
    # bucket on the integer epoch first, convert the 4,320 bucket keys after (date_trunc on 1M
    # timestamps alone costs ~250 ms on 2 cores)
    "requests_per_minute": "SELECT to_timestamp(m * 60) AS minute, action, n FROM "
                           "(SELECT timestamp // 60000 AS m, action, count(*) AS n "
                           "FROM waf_logs GROUP BY 1, 2) ORDER BY 1",
    "latency_percentiles": "SELECT route, quantile_cont(latency_ms, [0.5, 0.95, 0.99]) "
                           "FROM waf_logs GROUP BY 1",
    "top_labels": "SELECT l.name, count(*) FROM (SELECT unnest(labels) AS l FROM waf_logs) "
                  "GROUP BY 1 ORDER BY 2 DESC LIMIT 10",
}
DAY_QUERY = ("top_client_ips_one_day", QUERIES["top_client_ips"], "2026-01-02")


def generate(root: Path, n: int) -> None:
    rng = random.Random(42)
    ips = [f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"
           for _ in range(20_000)]
    hot_ips = ips[:50]
    rules = ["SQLi_BODY", "XSS_QUERY", "RateLimitPerIp", "BadBots", "GeoBlock", "SizeRestrict"]
    routes = ["GET /pets", "GET /pets/{petId}", "POST /pets", "DELETE /pets/{petId}", "GET /"]
    countries = ["US", "FR", "DE", "CN", "BR", "IN", "-"]
    per_day = n // DAYS
    for day in range(DAYS):
        d = root / "waf" / f"dt=2026-01-0{day + 1}"
        d.mkdir(parents=True)
        with open(d / "part-1-0-000001.jsonl", "wb") as f:
            buf = []
            for i in range(per_day if day < DAYS - 1 else n - per_day * (DAYS - 1)):
                ts = T0 + day * 86400 + rng.randrange(86400)
                blocked = rng.random() < 0.08
                ip = rng.choice(hot_ips) if rng.random() < 0.3 else rng.choice(ips)
                route = rng.choice(routes)
                rec = {
                    "timestamp": ts * 1000 + rng.randrange(1000), "formatVersion": 1,
                    "webaclId": "arn:aws:wafv2:local:000000000000:regional/webacl/main/1",
                    "terminatingRuleId": rng.choice(rules) if blocked else "Default_Action",
                    "terminatingRuleType": "REGULAR", "action": "BLOCK" if blocked else "ALLOW",
                    "terminatingRuleMatchDetails": [], "httpSourceName": "APIGW",
                    "httpSourceId": "000000000000:petstore:prod", "ruleGroupList": [],
                    "rateBasedRuleList": [], "nonTerminatingMatchingRules": [],
                    "requestHeadersInserted": None, "responseCodeSent": None,
                    "httpRequest": {"clientIp": ip, "country": rng.choice(countries),
                                    "headers": [{"name": "Host", "value": "api.local"},
                                                {"name": "User-Agent", "value": "bench/1"}],
                                    "uri": route.split(" ")[1], "args": "",
                                    "httpVersion": "HTTP/1.1", "httpMethod": route.split(" ")[0],
                                    "requestId": f"{day}-{i}"},
                    "labels": [{"name": "bastion:main:sqli"}] if blocked else [],
                    "bastion": {"route": route, "status": 403 if blocked else 200,
                                "latencyMs": {"total": rng.lognormvariate(1.0, 0.6),
                                              "waf": 0.2, "auth": 0.1, "integration": 1.0}},
                }
                buf.append(orjson.dumps(rec, option=orjson.OPT_APPEND_NEWLINE))
                if len(buf) >= 10_000:
                    f.write(b"".join(buf))
                    buf.clear()
            f.write(b"".join(buf))


def best_ms(store: LogStore, sql: str, day: str | None = None, runs: int = 5) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        store.query(sql, day=day)
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 1_000_000
    keep = sys.argv[sys.argv.index("--keep") + 1] if "--keep" in sys.argv else None
    root = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="bastion-logs-bench-"))
    try:
        if not (root / "parquet").exists():
            t0 = time.perf_counter()
            generate(root, n)
            print(f"generate {n} records: {time.perf_counter() - t0:.1f} s")
            t0 = time.perf_counter()
            res = LogStore(root).compact(min_age_seconds=0)
            size = sum(f.stat().st_size for f in (root / "parquet").rglob("*.parquet"))
            print(f"compact {res.records} records: {time.perf_counter() - t0:.2f} s, "
                  f"parquet {size / 1e6:.1f} MB")
        store = LogStore(root)
        t0 = time.perf_counter()
        store.query(QUERIES["top_client_ips"])
        print(f"{'cold first query (connect)':28s} {(time.perf_counter() - t0) * 1000:8.1f} ms")
        worst = 0.0
        for name, sql in QUERIES.items():
            ms = best_ms(store, sql)
            worst = max(worst, ms)
            print(f"{name:28s} {ms:8.1f} ms")
        name, sql, day = DAY_QUERY
        ms = best_ms(store, sql, day)
        worst = max(worst, ms)
        print(f"{name:28s} {ms:8.1f} ms")
        print(f"max_query_ms={worst:.1f}")
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
