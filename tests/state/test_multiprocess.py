"""Four real OS processes share one redis-server: a limit of L admits exactly L in total."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.redis_server import RedisServer
from tests.state.conftest import redis_uri

HAMMER = Path(__file__).with_name("hammer.py")
SRC = Path(__file__).parents[2] / "src"
PROCESSES = 4


def _hammer(uri: str, mode: str, limit: int, hits: int) -> list[int]:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    args = [sys.executable, str(HAMMER), uri, mode, "shared", str(limit), str(hits), "1.7e9"]
    procs = [
        subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
        for _ in range(PROCESSES)
    ]
    try:
        for p in procs:  # every process is connected before any of them starts
            assert p.stdout is not None
            assert p.stdout.readline().strip() == "ready"
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        outs = [p.communicate(timeout=60)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert all(p.returncode == 0 for p in procs)
    return [int(out.strip()) for out in outs]


@pytest.mark.e2e
@pytest.mark.redis
@pytest.mark.parametrize("time_source", ["client", "server"])
def test_four_processes_admit_exactly_the_limit(
    redis_server: RedisServer, time_source: str
) -> None:
    uri = redis_uri(redis_server, time=time_source)
    admitted = _hammer(uri, "window", limit=37, hits=60)
    assert sum(admitted) == 37  # 240 hits, zero over-admissions, zero under-admissions


@pytest.mark.e2e
@pytest.mark.redis
def test_four_processes_share_one_token_bucket(redis_server: RedisServer) -> None:
    admitted = _hammer(redis_uri(redis_server), "bucket", limit=50, hits=40)
    assert sum(admitted) == 50  # frozen time: the burst, and nothing refilled


@pytest.mark.e2e
@pytest.mark.redis
def test_four_processes_hold_the_throttling_rate(redis_server: RedisServer) -> None:
    # each process lives through the same 10 s of frozen time asking 200/s; together they are
    # offered 800/s against a 50/s bucket of burst 20: admitted = burst + 10 s x rate
    admitted = _hammer(redis_uri(redis_server), "steady", limit=20, hits=2000)
    assert sum(admitted) == pytest.approx(20 + 50 * 10, rel=0.05)
