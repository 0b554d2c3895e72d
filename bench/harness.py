"""Shared benchmark plumbing: nginx peers, Bastion processes, wrk runs, pinning.

Benchmarks measure, they never assert: each prints a figure and its ratio to a peer measured
in the same run on the same machine (wrk pinned to CPU 0, servers to CPU 1 when there are
two cores). Everything listens on 127.0.0.1 and stops by PID.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TWO_CORES = (os.cpu_count() or 1) >= 2


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pin(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if TWO_CORES and shutil.which("taskset") else []


def wait_http(port: int, path: str = "/", timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        try:
            conn.request("GET", path)
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.05)
        finally:
            conn.close()
    raise RuntimeError(f"nothing answered on port {port}")


@contextmanager
def process(cmd: Sequence[str], port: int, *, ready_path: str = "/",
            env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(list(cmd), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})}, cwd=ROOT)
    try:
        wait_http(port, ready_path)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


NGINX_UPSTREAM = """
worker_processes 1; daemon off; master_process off; error_log {dir}/error.log; pid {dir}/up.pid;
events {{ worker_connections 1024; }}
http {{ access_log off;
  client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fcgi; uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
  server {{ listen 127.0.0.1:{port}; keepalive_requests 100000;
    location / {{ default_type application/json;
      return 200 '{{"id":123,"name":"widget","price":9.99,"tags":["a","b"],"ok":true}}'; }} }} }}
"""

NGINX_PROXY = """
worker_processes 1; daemon off; master_process off; error_log {dir}/error.log; pid {dir}/px.pid;
events {{ worker_connections 1024; }}
http {{ access_log off;
  client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fcgi; uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
  upstream up {{ server 127.0.0.1:{upstream}; keepalive 64; }}
  server {{ listen 127.0.0.1:{port}; keepalive_requests 100000;
    location / {{ proxy_pass http://up; proxy_http_version 1.1;
      proxy_set_header Connection ""; }} }} }}
"""


@contextmanager
def nginx(template: str, **values: object) -> Iterator[tuple[int, int]]:
    """Start nginx (one worker, no master) from ``template``; yields (port, pid)."""
    if not shutil.which("nginx"):
        sys.exit("nginx is required: apt-get install nginx-light")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bastion-bench-") as d:
        conf = Path(d) / "nginx.conf"
        conf.write_text(template.format(dir=d, port=port, **values))
        with process([*pin(1), "nginx", "-p", d, "-c", str(conf)], port) as proc:
            yield port, proc.pid


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int = 0
    cpu_us: float = float("nan")  # server CPU per request: robust when the machine is busy

    def line(self, name: str) -> str:
        return (f"{name:34} {self.rps:10,.0f} req/s   p50 {self.p50_ms:6.2f} ms   "
                f"p99 {self.p99_ms:6.2f} ms   {self.cpu_us:6.1f} CPU us/req"
                + (f"   errors {self.errors}" if self.errors else ""))


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its reaped children, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(x) for x in fields[11:15]) / ticks


def measure(pid: int, url: str, **kw: object) -> WrkResult:
    """wrk against ``url`` while accounting the CPU time of server process ``pid``."""
    before = cpu_seconds(pid)
    result = wrk(url, **kw)  # type: ignore[arg-type]
    used = cpu_seconds(pid) - before
    if result.requests:
        result.cpu_us = used * 1e6 / result.requests
    return result


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    if not m:
        return float("nan")
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def wrk(url: str, *, seconds: int, connections: int = 32, script: str | None = None,
        headers: Sequence[str] = ()) -> WrkResult:
    if not shutil.which("wrk"):
        sys.exit("wrk is required: apt-get install wrk")
    cmd = [*pin(0), "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for h in headers:
        cmd += ["-H", h]
    if script:
        cmd += ["-s", script]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"^\s*50%\s+(\S+)", out, re.M)  # the distribution, not "68.50%" stdev
    p99 = re.search(r"^\s*99%\s+(\S+)", out, re.M)
    total = re.search(r"(\d+) requests in", out)
    errs = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(errs.group(1)) if errs else 0
    if sock:
        errors += sum(int(x) for x in sock.groups())
    return WrkResult(rps, _ms(p50.group(1)) if p50 else float("nan"),
                     _ms(p99.group(1)) if p99 else float("nan"), errors,
                     int(total.group(1)) if total else 0)


def post_script(body: bytes, content_type: str = "application/json") -> str:
    """A wrk Lua script sending ``body`` as a POST."""
    fd, name = tempfile.mkstemp(suffix=".lua")
    escaped = body.decode().replace("\\", "\\\\").replace('"', '\\"')
    with os.fdopen(fd, "w") as f:
        f.write(f'wrk.method = "POST"\nwrk.body = "{escaped}"\n'
                f'wrk.headers["Content-Type"] = "{content_type}"\n')
    return name


def unique_script(path: str, body: bytes | None = None,
                  content_type: str = "application/json", *, start: int = 0) -> str:
    """A wrk Lua script whose every request carries a value never seen before: a counter in
    the query (GET) or in the first JSON string of ``body`` (POST). It defeats any cache of
    per-value answers, so the numbers show what unseen input costs. ``start``: where the
    counter starts (a later run against the same server must not repeat values)."""
    fd, name = tempfile.mkstemp(suffix=".lua")
    lines = [f"local n = {int(start)}", "request = function()", "  n = n + 1"]
    if body is None:
        sep = "&" if "?" in path else "?"
        lines.append(f'  return wrk.format("GET", "{path}{sep}u=" .. n)')
    else:
        head, sep, tail = body.decode().partition('": "')

        def lua(text: str) -> str:
            return text.replace("\\", "\\\\").replace('"', '\\"')

        lines += [f'  wrk.headers["Content-Type"] = "{content_type}"',
                  f'  return wrk.format("POST", "{path}", nil, '
                  f'"{lua(head + sep)}" .. n .. "{lua(tail)}")']
    lines.append("end")
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    return name


def bastion(config: Path, port: int) -> list[str]:
    return [*pin(1), sys.executable, "-m", "bastion.cli", "serve", "--config", str(config),
            "--port", str(port)]
