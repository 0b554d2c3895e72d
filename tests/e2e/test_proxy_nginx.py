"""Bastion (uvicorn + uvloop) as a reverse proxy in front of a real nginx."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import Server, start, stop, wait_ready
from tests.helpers import free_port

pytestmark = pytest.mark.e2e

NGINX = """
worker_processes 1; daemon off; master_process off; error_log {d}/error.log; pid {d}/nginx.pid;
events {{ worker_connections 256; }}
http {{ access_log off; client_body_temp_path {d}/b; proxy_temp_path {d}/p;
  fastcgi_temp_path {d}/f; uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;
  server {{ listen 127.0.0.1:{port};
    location /big {{ alias {d}/big.bin; }}
    location / {{ default_type application/json;
      return 200 '{{"from":"nginx","uri":"$request_uri"}}'; }}
  }} }}
"""


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    if shutil.which("nginx") is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is required in CI (apt-get install nginx-light)")
        pytest.skip("nginx not installed (apt-get install nginx-light)")
    port = free_port()
    (tmp_path / "big.bin").write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    conf = tmp_path / "nginx.conf"
    conf.write_text(NGINX.format(d=tmp_path, port=port))
    proc = subprocess.Popen(["nginx", "-p", str(tmp_path), "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port, proc)
        yield port, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGQUIT)
            proc.wait(timeout=10)


def _proxy(tmp_path: Path, upstream: int, port: int) -> Server:
    api = {"openapi": "3.0.1", "info": {"title": "t", "version": "1"}, "paths": {
        "/{proxy+}": {"x-amazon-apigateway-any-method": {"x-amazon-apigateway-integration": {
            "type": "http_proxy", "uri": f"http://127.0.0.1:{upstream}/{{proxy}}"}}}}}
    (tmp_path / "api.yaml").write_text(yaml.safe_dump(api))
    cfg = tmp_path / "bastion.yaml"
    cfg.write_text(yaml.safe_dump({"api": {"openapi": "api.yaml", "stage": "prod"},
                                   "upstream": {"connect_timeout_ms": 500}}))
    return start(["serve", "--config", str(cfg), "--port", str(port)], port)


def test_proxy_to_nginx_and_survive_its_death(
        tmp_path: Path, nginx: tuple[int, subprocess.Popen[bytes]]) -> None:
    upstream, proc = nginx
    port = free_port()
    server = _proxy(tmp_path, upstream, port)
    try:
        for _ in range(5):
            status, headers, body = server.request("GET", "/prod/a/b?c=d%20e")
            assert status == 200
            assert body == b'{"from":"nginx","uri":"/a/b?c=d%20e"}'
            assert headers["x-amzn-remapped-server"].startswith("nginx")
        status, headers, body = server.request("GET", "/prod/big")
        assert status == 200 and body == bytes(range(256)) * 4096
        proc.send_signal(signal.SIGQUIT)
        proc.wait(timeout=10)
        status, _, body = server.request("GET", "/prod/a")
        assert status == 502
        assert body == b'{"message": "Internal server error"}'
        assert server.proc.poll() is None
    finally:
        stop(server)
