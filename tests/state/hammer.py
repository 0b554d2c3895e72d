"""A tiny client process for the multi-process tests: waits for "go" on stdin, fires ``hits``
concurrent hits at one key, prints how many were admitted.

    python hammer.py URI window|bucket|steady KEY LIMIT HITS FROZEN_NOW

``steady``: a bucket of burst LIMIT refilled at 50/s, one hit every 5 ms of frozen time for HITS
steps (4x the rate per process), so the admitted total measures the shared refill rate.
"""

from __future__ import annotations

import asyncio
import sys

from bastion.clock import FrozenClock
from bastion.state import open_storage


async def main(uri: str, mode: str, key: str, limit: int, hits: int, now: float) -> int:
    clock = FrozenClock(now)
    storage = open_storage(uri, clock)
    try:
        await storage.get("warm-up")  # connect before the start line
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        if mode == "window":
            rs = await asyncio.gather(*(storage.hit_window(key, limit, 600) for _ in range(hits)))
            return sum(r.allowed for r in rs)
        if mode == "steady":
            admitted = 0
            for _ in range(hits):
                clock.advance(0.005)
                admitted += (await storage.token_bucket(key, 50.0, limit)).allowed
            return admitted
        bs = await asyncio.gather(*(storage.token_bucket(key, 1.0, limit) for _ in range(hits)))
        return sum(b.allowed for b in bs)
    finally:
        await storage.close()


if __name__ == "__main__":
    uri, mode, key, limit, hits, now = sys.argv[1:7]
    print(asyncio.run(main(uri, mode, key, int(limit), int(hits), float(now))), flush=True)
