"""WAF throughput: Bastion with the OWASP CRS (PL1, blocking) in front of a tiny upstream,
against nginx + ModSecurity v3 + the same CRS, in the same run.

    python -m bench.waf [--seconds 10] [--rounds 2]

Needs Debian's nginx-light, libnginx-mod-http-modsecurity, modsecurity-crs and wrk.
Prints req/s, p99 and the Bastion / ModSecurity ratios for a simple GET and a 1 KB JSON POST,
then the same with a value never seen before in every request (the engine remembers its
per-value screening answers; these lines show what new input costs), and a GET that one PL1
rule scores below the blocking threshold (a numeric Host, 920350: common on real traffic,
and it makes the scoring rules run). The two servers alternate case by case over the rounds,
so drift on a shared machine lands on both. Neither server writes a log (ModSecurity's audit
log is off: its default would write every warned request).
"""

from __future__ import annotations

import argparse
import json
import tempfile
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
    post_script,
    process,
    unique_script,
)

MODSEC_MODULE = "/usr/lib/nginx/modules/ngx_http_modsecurity_module.so"
CRS = Path("/usr/share/modsecurity-crs")
CRS_SETUP = Path("/etc/modsecurity/crs/crs-setup.conf")

NGINX_MODSEC = """
load_module {module};
worker_processes 1; daemon off; master_process off; error_log {dir}/error.log; pid {dir}/ms.pid;
events {{ worker_connections 1024; }}
http {{ access_log off;
  client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fcgi; uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
  upstream up {{ server 127.0.0.1:{upstream}; keepalive 64; }}
  modsecurity on;
  modsecurity_rules_file {dir}/modsec.conf;
  server {{ listen 127.0.0.1:{port}; keepalive_requests 100000;
    location / {{ proxy_pass http://up; proxy_http_version 1.1;
      proxy_set_header Connection ""; }} }} }}
"""

GET = "/api/items?q=hello&page=2"
HEADERS = ("Host: localhost", "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
           "Accept: text/html,application/json", "Accept-Language: en-US,en;q=0.5")


def modsec_conf(directory: Path) -> Path:
    base = Path("/etc/nginx/modsecurity.conf").read_text()
    base = base.replace("SecRuleEngine DetectionOnly", "SecRuleEngine On")
    base = base.replace("SecAuditEngine RelevantOnly", "SecAuditEngine Off")
    for candidate in (Path("/etc/nginx/unicode.mapping"), Path("/etc/modsecurity/unicode.mapping")):
        if candidate.exists():
            base = base.replace("SecUnicodeMapFile unicode.mapping",
                                f"SecUnicodeMapFile {candidate}")
            break
    conf = directory / "modsec.conf"
    conf.write_text(base + f"""
SecAction "id:900000,phase:1,nolog,pass,t:none,setvar:tx.paranoia_level=1"
Include {CRS_SETUP}
Include /etc/modsecurity/crs/REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf
Include {CRS}/rules/*.conf
Include /etc/modsecurity/crs/RESPONSE-999-EXCLUSION-RULES-AFTER-CRS.conf
""")
    return conf


def bastion_config(directory: Path, upstream: int) -> Path:
    api = {"openapi": "3.0.1", "info": {"title": "waf-bench", "version": "1"}, "paths": {
        "/{proxy+}": {"x-amazon-apigateway-any-method": {"x-amazon-apigateway-integration": {
            "type": "http_proxy", "uri": f"http://127.0.0.1:{upstream}/{{proxy}}"}}}}}
    (directory / "api.yaml").write_text(yaml.safe_dump(api))
    cfg = directory / "bastion.yaml"
    cfg.write_text(yaml.safe_dump({
        "api": {"openapi": "api.yaml", "stage": "prod"},
        "waf": {"crs": {"paranoia": 1, "mode": "blocking"}},
        "logging": {"enabled": False},
    }))
    return cfg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10,
                        help="measured seconds per case and server, split over the rounds")
    parser.add_argument("--rounds", type=int, default=2,
                        help="the servers alternate case by case in each round; the run with "
                             "the median req/s of each is printed")
    args = parser.parse_args()
    s = max(1, round(args.seconds / args.rounds))
    body = json.dumps({"name": "widget", "description": "a perfectly ordinary product " * 12,
                       "tags": [f"t{i}" for i in range(40)], "price": 9.99}).encode()[:1024]
    post = post_script(body)
    print(f"wrk -t1 -c32 -d{s}s x {args.rounds} rounds; wrk on CPU 0, servers on CPU 1\n")
    with tempfile.TemporaryDirectory() as d, nginx(NGINX_UPSTREAM) as (up, _):
        directory = Path(d)
        modsec_conf(directory)
        template = NGINX_MODSEC.replace("{dir}/modsec.conf", str(directory / "modsec.conf"))
        cfg = bastion_config(directory, up)
        port = free_port()
        with nginx(template, upstream=up, module=MODSEC_MODULE) as (ms_port, ms_pid), \
                process(bastion(cfg, port), port, ready_path="/_bastion/health") as proc:
            # (server, pid, base URL, path prefix)
            servers = (("nginx+ModSecurity", ms_pid, f"http://127.0.0.1:{ms_port}", ""),
                       ("bastion", proc.pid, f"http://127.0.0.1:{port}/prod", "/prod"))
            runs: dict[tuple[str, str], list[WrkResult]] = {}
            for r in range(args.rounds):
                for case in CASES:
                    for name, pid, url, prefix in servers:
                        # one unmeasured second first: it warms this server after the other
                        # one ran, and lets the other finish what it still had queued
                        target, opts = _request(case, url, prefix, post, body, 1, r, True)
                        measure(pid, target, **opts)
                        target, opts = _request(case, url, prefix, post, body, s, r, False)
                        res = measure(pid, target, **opts)
                        runs.setdefault((case, name), []).append(res)
    med = {k: sorted(v, key=lambda x: x.rps)[(len(v) - 1) // 2] for k, v in runs.items()}
    for case in CASES:
        for name, *_ in servers:
            print(med[(case, name)].line(f"{name} CRS PL1, {case}"))
    print()

    def ratio(case: str) -> float:
        return med[(case, "bastion")].rps / med[(case, "nginx+ModSecurity")].rps

    print(f"bastion / ModSecurity req/s: GET {ratio('GET'):.1f}x, "
          f"POST {ratio('POST 1KB'):.1f}x  (targets: 5x GET, 10x POST, p99 < 10 ms)")
    print(f"with a value never seen before in every request: GET "
          f"{ratio('GET, new value each request'):.1f}x, "
          f"POST {ratio('POST 1KB, new value each request'):.1f}x")
    print(f"a GET with one CRS warning: {ratio(WARNED):.1f}x")


WARNED = "GET, one warning (numeric Host)"
CASES = ("GET", "POST 1KB", "GET, new value each request", "POST 1KB, new value each request",
         WARNED)


def _request(case: str, url: str, prefix: str, post: str, body: bytes, seconds: int,
             round_: int, warm_up: bool) -> tuple[str, dict[str, Any]]:
    """``measure``'s URL and wrk options for one case (new values never repeat: each round
    and each warm-up counts from its own start)."""
    if case == "GET":
        return url + GET, {"seconds": seconds, "headers": HEADERS}
    if case == "POST 1KB":
        return url + "/api/items", {"seconds": seconds, "script": post, "headers": HEADERS[:1]}
    if case == WARNED:
        return url + GET, {"seconds": seconds, "headers": ("Host: 127.0.0.1", *HEADERS[1:])}
    start = (2 * round_ + warm_up) * 10_000_000
    if case == "GET, new value each request":
        return url, {"seconds": seconds, "headers": HEADERS,
                     "script": unique_script(prefix + GET, start=start)}
    return url, {"seconds": seconds, "headers": HEADERS[:1],
                 "script": unique_script(prefix + "/api/items", body, start=start)}


if __name__ == "__main__":
    main()
