"""``bastion demo --split``: the seed's architecture on one machine.

The PetStore gateway runs as a child process on one port (AWS_IAM on /prod/admin/pets, and a
credential endpoint); an edge runs in this process on another with the demo's Web ACL (moved
from the gateway to the perimeter, as the seed has WAF on CloudFront) and forwards to it,
signing each request with short-lived credentials for the ``edge-signer`` role that it fetches
with a bootstrap token made up for this run. Through the edge: 200. Direct: 403.
"""

from __future__ import annotations

import http.client
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["SplitDemo", "prepare_split", "run_split_demo"]

TOKEN_ENV = "BASTION_DEMO_EDGE_TOKEN"
ROLE = "edge-signer"


@dataclass(frozen=True, slots=True)
class SplitDemo:
    gateway_config: Path
    edge_config: Path
    edge_port: int
    gateway_port: int


def _edge_openapi(gateway_port: int) -> dict[str, Any]:
    integration = {"type": "http_proxy", "httpMethod": "ANY",
                   "uri": f"http://127.0.0.1:{gateway_port}/prod/{{proxy}}",
                   "requestParameters": {
                       "integration.request.path.proxy": "method.request.path.proxy"}}
    return {"openapi": "3.0.1", "info": {"title": "PetStore edge", "version": "1"},
            "paths": {"/{proxy+}": {"x-amazon-apigateway-any-method": {
                "parameters": [{"name": "proxy", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "x-amazon-apigateway-integration": integration}}}}


def prepare_split(workdir: Path, *, edge_port: int, gateway_port: int) -> SplitDemo:
    """Write the gateway's and the edge's configs under ``workdir``."""
    from bastion.demo import prepare

    info = prepare(workdir / "gateway")
    gw_dir = info.config.parent
    cfg = yaml.safe_load(info.config.read_text(encoding="utf-8"))
    cfg["server"] = {**cfg.get("server", {}), "port": gateway_port, "trust_forwarded_for": True}
    cfg["credentials"] = {"roles": [ROLE], "bootstrap_token_env": TOKEN_ENV, "duration_s": 900}
    webacl = cfg.pop("webacl", None)  # the perimeter moves to the edge, as in the seed
    info.config.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    creds_file = gw_dir / "credentials.yaml"
    creds = yaml.safe_load(creds_file.read_text(encoding="utf-8"))
    api = cfg["api"]
    creds["roles"] = [{"name": ROLE, "account": api["account_id"], "policies": [{
        "Version": "2012-10-17", "Statement": [{
            "Sid": "EdgeInvokesEverything", "Effect": "Allow", "Action": "execute-api:Invoke",
            "Resource": f"arn:aws:execute-api:{api['region']}:{api['account_id']}:"
                        f"{api['api_id']}/prod/*"}]}]}]
    creds_file.write_text(yaml.safe_dump(creds, sort_keys=False), encoding="utf-8")

    edge_dir = workdir / "edge"
    edge_dir.mkdir(parents=True, exist_ok=True)
    (edge_dir / "openapi.yaml").write_text(yaml.safe_dump(_edge_openapi(gateway_port)),
                                           encoding="utf-8")
    edge_cfg = {
        "api": {"openapi": "openapi.yaml", "kind": "rest", "stage": "prod",
                "region": api["region"], "account_id": api["account_id"], "api_id": "edge"},
        "server": {"host": "127.0.0.1", "port": edge_port},
        "edge": {"signing": "always", "credentials": {
            "endpoint": f"http://127.0.0.1:{gateway_port}/_bastion/sts/assume-role",
            "role": ROLE, "session_name": "demo-edge", "bootstrap_token_env": TOKEN_ENV}},
    }
    if webacl is not None:
        for name in [webacl.get("file", "")] + [
                f for files in (webacl.get("ip_lists") or {}).values() for f in files]:
            if name and (gw_dir / name).is_file():
                shutil.copyfile(gw_dir / name, edge_dir / name)
        edge_cfg["webacl"] = webacl
    edge_path = edge_dir / "bastion.yaml"
    edge_path.write_text(yaml.safe_dump(edge_cfg, sort_keys=False), encoding="utf-8")
    return SplitDemo(info.config, edge_path, edge_port, gateway_port)


def _wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        try:
            conn.request("GET", "/_bastion/health")
            if conn.getresponse().status == 200:
                return True
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.05)
    return False


class _Terminated(Exception):
    pass


def _terminated(signum: int, frame: object) -> None:
    raise _Terminated


def run_split_demo(workdir: Path, *, edge_port: int, gateway_port: int,
                   log_level: str = "warning") -> int:
    """Start the gateway child, print the two curl lines, serve the edge until stopped."""
    from bastion.http.server import serve

    demo = prepare_split(workdir, edge_port=edge_port, gateway_port=gateway_port)
    os.environ.setdefault(TOKEN_ENV, secrets.token_urlsafe(32))  # never printed
    proc = subprocess.Popen(
        [sys.executable, "-m", "bastion.cli", "serve", "--config", str(demo.gateway_config),
         "--port", str(gateway_port), "--host", "127.0.0.1", "--log-level", log_level])
    try:
        if not _wait_ready(gateway_port, proc):
            print("error: the gateway process did not start", file=sys.stderr)
            return 1
        edge = f"http://127.0.0.1:{edge_port}/prod"
        gateway = f"http://127.0.0.1:{gateway_port}/prod"
        print(f"""Bastion split demo: edge {edge} -> gateway {gateway} (pid {proc.pid})

The edge signs every request with SigV4, using short-lived credentials for the role
{ROLE!r} that it fetches from the gateway's credential endpoint and refreshes before expiry.

Through the edge -> 200:
  curl -s {edge}/admin/pets
Direct to the gateway (AWS_IAM, unsigned) -> 403 Missing Authentication Token:
  curl -si {gateway}/admin/pets
The edge's Web ACL stops an attack before it is signed and forwarded -> 403:
  curl -si "{edge}/admin/pets?id=1%27%20OR%201=1--"

Configs: {demo.edge_config} and {demo.gateway_config}
Press Ctrl-C to stop both.""", flush=True)
        # uvicorn re-raises the signal that stopped it once it is done; make SIGTERM an
        # exception here so the gateway child is stopped too (SIGINT already is one)
        previous = signal.signal(signal.SIGTERM, _terminated)
        try:
            serve(demo.edge_config, host="127.0.0.1", port=edge_port, log_level=log_level)
        except _Terminated:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
        return 0
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
