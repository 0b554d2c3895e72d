"""WAF throughput: Bastion with the OWASP CRS (PL1, blocking) in front of a tiny upstream,
against nginx + ModSecurity v3 + the same CRS, in the same run.

    python -m bench.waf [--seconds 10]

Needs Debian's nginx-light, libnginx-mod-http-modsecurity, modsecurity-crs and wrk.
Prints req/s, p99 and the Bastion / ModSecurity ratios for a simple GET and a 1 KB JSON POST,
then the same with a value never seen before in every request (the engine remembers its
per-value screening answers; these lines show what new input costs).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import yaml

from bench.harness import (
    NGINX_UPSTREAM,
    bastion,
    free_port,
    measure,
    nginx,
    post_script,
    process,
    unique_script,
    wrk,
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
    parser.add_argument("--seconds", type=int, default=10)
    s = parser.parse_args().seconds
    body = json.dumps({"name": "widget", "description": "a perfectly ordinary product " * 12,
                       "tags": [f"t{i}" for i in range(40)], "price": 9.99}).encode()[:1024]
    post = post_script(body)
    print(f"wrk -t1 -c32 -d{s}s; wrk on CPU 0, servers on CPU 1\n")
    with tempfile.TemporaryDirectory() as d, nginx(NGINX_UPSTREAM) as (up, _):
        directory = Path(d)
        modsec_conf(directory)
        template = NGINX_MODSEC.replace("{dir}/modsec.conf", str(directory / "modsec.conf"))
        with nginx(template, upstream=up, module=MODSEC_MODULE) as (port, pid):
            url = f"http://127.0.0.1:{port}"
            wrk(url + GET, seconds=1, headers=HEADERS)
            ms_get = measure(pid, url + GET, seconds=s, headers=HEADERS)
            ms_post = measure(pid, url + "/api/items", seconds=s, script=post,
                              headers=HEADERS[:1])
            ms_uget = measure(pid, url, seconds=s, headers=HEADERS,
                              script=unique_script(GET))
            ms_upost = measure(pid, url, seconds=s, headers=HEADERS[:1],
                               script=unique_script("/api/items", body))
        cfg = bastion_config(directory, up)
        port = free_port()
        with process(bastion(cfg, port), port, ready_path="/_bastion/health") as proc:
            url = f"http://127.0.0.1:{port}/prod"
            wrk(url + GET, seconds=1, headers=HEADERS)
            b_get = measure(proc.pid, url + GET, seconds=s, headers=HEADERS)
            b_post = measure(proc.pid, url + "/api/items", seconds=s, script=post,
                             headers=HEADERS[:1])
            b_uget = measure(proc.pid, url, seconds=s, headers=HEADERS,
                             script=unique_script("/prod" + GET))
            b_upost = measure(proc.pid, url, seconds=s, headers=HEADERS[:1],
                              script=unique_script("/prod/api/items", body))
    print(ms_get.line("nginx+ModSecurity CRS PL1, GET"))
    print(b_get.line("bastion CRS PL1, GET"))
    print(ms_post.line("nginx+ModSecurity CRS PL1, POST 1KB"))
    print(b_post.line("bastion CRS PL1, POST 1KB"))
    print(ms_uget.line("nginx+ModSecurity CRS PL1, GET, new value each request"))
    print(b_uget.line("bastion CRS PL1, GET, new value each request"))
    print(ms_upost.line("nginx+ModSecurity CRS PL1, POST 1KB, new value each request"))
    print(b_upost.line("bastion CRS PL1, POST 1KB, new value each request"))
    print()
    print(f"bastion / ModSecurity req/s: GET {b_get.rps / ms_get.rps:.1f}x, "
          f"POST {b_post.rps / ms_post.rps:.1f}x  (targets: 5x GET, 10x POST, p99 < 10 ms)")
    print(f"with a value never seen before in every request: GET "
          f"{b_uget.rps / ms_uget.rps:.1f}x, POST {b_upost.rps / ms_upost.rps:.1f}x")


if __name__ == "__main__":
    main()
