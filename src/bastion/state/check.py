"""``bastion state check``: is the configured state backend reachable, and does it behave?

Opens the backend named by a URI, pings it, runs one round trip of each atomic script family on a
throw-away key, and prints one line per step with its latency. Exit status 0 when all pass, 1
when the backend fails (``StorageError``), 2 when the URI is invalid. Never prints the URI, which
may carry a password. For the lead to wire as a CLI subcommand: ``state_check_main(uri)``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TextIO

from bastion.clock import Clock, SystemClock
from bastion.errors import ConfigError, StorageError
from bastion.state import Storage, open_storage

__all__ = ["state_check", "state_check_main"]


async def state_check(uri: str, clock: Clock, out: TextIO) -> int:
    """Run the checks; see the module docstring for the exit codes."""
    try:
        storage = open_storage(uri, clock)
    except ConfigError as exc:
        print(f"state: invalid URI: {exc.message}", file=out)
        return 2
    probe = f"bastion-check:{os.urandom(6).hex()}"
    steps: list[tuple[str, Callable[[Storage], Awaitable[object]]]] = [
        ("ping", lambda s: s.ping()),
        ("hit_window", lambda s: s.hit_window(probe, 1, 1.0)),
        ("token_bucket", lambda s: s.token_bucket(probe, 1.0, 1)),
        ("set_if_absent", lambda s: s.set_if_absent(probe, 1.0)),
        ("hincr", lambda s: s.hincr(probe, "n", 1, 1.0)),
        ("sadd", lambda s: s.sadd(probe, "m", 1.0)),
    ]
    print(f"state: backend {type(storage).__name__}", file=out)
    try:
        for name, step in steps:
            started = time.perf_counter()
            await step(storage)
            print(f"state: {name} ok ({(time.perf_counter() - started) * 1000:.2f} ms)", file=out)
    except StorageError as exc:
        print(f"state: {name} FAILED: {exc}", file=out)
        return 1
    finally:
        try:
            await storage.close()
        except StorageError:
            pass
    return 0


def state_check_main(uri: str) -> int:
    """Entry point for ``bastion state check [--uri URI]``: the exit status to return."""
    return asyncio.run(state_check(uri, SystemClock(), sys.stdout))
