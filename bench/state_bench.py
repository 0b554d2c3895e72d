"""Micro benchmark: operations per second of ``hit_window`` and ``token_bucket`` on the memory
backend vs the Redis backend, and the ratio (the per-request cost of sharing state).

    PYTHONPATH=src python bench/state_bench.py                  # starts a private redis-server
    PYTHONPATH=src python bench/state_bench.py --redis redis://127.0.0.1:6379/0 --seconds 2

Not a test: numbers depend on the machine. "sequential" awaits one call at a time (the latency a
single request pays); "concurrent" keeps ``--concurrency`` calls in flight (throughput of one
gateway process). Keys are spread over 1,000 clients, as a real rate limiter sees them.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.redis_server

from bastion.clock import SystemClock
from bastion.state import Storage, open_storage

Op = Callable[[Storage, int], Awaitable[object]]

OPS: dict[str, Op] = {
    "hit_window": lambda s, i: s.hit_window(f"ip{i % 1000}", 1_000_000, 60),
    "token_bucket": lambda s, i: s.token_bucket(f"ip{i % 1000}", 10_000.0, 5_000),
}


async def _rate(storage: Storage, op: Op, seconds: float, concurrency: int) -> float:
    done = 0
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        if concurrency == 1:
            await op(storage, done)
            done += 1
        else:
            await asyncio.gather(*(op(storage, done + j) for j in range(concurrency)))
            done += concurrency
    return done / (time.perf_counter() - started)


async def _measure(uri: str, seconds: float, concurrency: int) -> dict[tuple[str, str], float]:
    out: dict[tuple[str, str], float] = {}
    storage = open_storage(uri, SystemClock())
    try:
        for name, op in OPS.items():
            for mode, conc in (("sequential", 1), ("concurrent", concurrency)):
                out[(name, mode)] = await _rate(storage, op, seconds, conc)
    finally:
        await storage.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", help="redis:// URI (default: start a private redis-server)")
    parser.add_argument("--seconds", type=float, default=1.0, help="per measurement")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()

    server = None
    uri = args.redis
    if uri is None:
        from tests.redis_server import RedisServer, redis_binary

        binary = redis_binary()
        if binary is None:
            print("redis-server not found; pass --redis URI", file=sys.stderr)
            return 2
        server = RedisServer(binary).start()
        uri = server.uri
    sep = "&" if "?" in uri else "?"
    uri = f"{uri}{sep}prefix=bench-{uuid.uuid4().hex[:8]}:"
    try:
        memory = asyncio.run(_measure("memory://", args.seconds, args.concurrency))
        redis = asyncio.run(_measure(uri, args.seconds, args.concurrency))
    finally:
        if server is not None:
            server.cleanup()

    print(f"{'operation':<14}{'mode':<12}{'memory ops/s':>14}{'redis ops/s':>14}{'ratio':>8}")
    for (name, mode), mem in memory.items():
        red = redis[(name, mode)]
        print(f"{name:<14}{mode:<12}{mem:>14,.0f}{red:>14,.0f}{mem / red:>7.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
