"""Shared mutable state: one small storage interface, two backends chosen by URI.

``memory://`` (the default: in-process, nothing to install, one process) and ``redis://`` /
``rediss://`` (every process pointed at one Redis enforces one limit). Layers call the verbs of
``Storage`` (see ``base.py``) through ``GuardedStorage`` on the request path, which applies the
fail-open/fail-closed policy per ``Feature`` and never raises.

    storage = open_storage(config.state, clock)            # "memory://" or "redis://host:6379/0"
    guarded = GuardedStorage(storage, clock)
    r = await guarded.hit_window(Feature.RATE_RULE, f"waf:{rule}:{ip}", limit=100, window_s=300)
    if not r.allowed: ...                                   # block; r.retry_after for headers
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from bastion.clock import Clock
from bastion.errors import ConfigError
from bastion.state.base import BucketResult, Storage, WindowResult
from bastion.state.memory import MemoryStorage
from bastion.state.periods import Period, period_end, period_start
from bastion.state.policy import (
    DEFAULT_POLICY,
    DegradedCounter,
    FailMode,
    Feature,
    GuardedStorage,
    Read,
)

__all__ = [
    "DEFAULT_POLICY",
    "BucketResult",
    "DegradedCounter",
    "FailMode",
    "Feature",
    "GuardedStorage",
    "MemoryStorage",
    "Period",
    "Read",
    "Storage",
    "WindowResult",
    "open_storage",
    "period_end",
    "period_start",
]


def open_storage(uri: str, clock: Clock) -> Storage:
    """The backend named by ``uri``'s scheme: ``memory://[?max_keys=N&max_bytes=M]`` (also the
    empty string), ``redis://host:port/db`` or ``rediss://…`` (see ``bastion.state.redis``).

    Raises ``ConfigError`` (never echoing the URI, which may hold a password) when it is invalid.
    Opening does not connect: a Redis that is down shows up as ``StorageError`` on first use.
    """
    scheme = urlsplit(uri).scheme if uri else "memory"
    try:
        if scheme == "memory":
            query = dict(parse_qsl(urlsplit(uri).query))
            return MemoryStorage(
                clock,
                max_keys=int(query.get("max_keys", "100000")),
                max_bytes=int(query.get("max_bytes", str(256 * 1024 * 1024))),
                window_slots=int(query.get("window_slots", "600")),
            )
        if scheme in ("redis", "rediss"):
            try:
                from bastion.state.redis import RedisStorage  # the driver loads only when used
            except ImportError as exc:
                raise ConfigError("redis:// needs the 'hiredis' package", key="state") from exc

            return RedisStorage.from_uri(uri, clock)
    except ValueError as exc:
        raise ConfigError(str(exc), key="state") from exc
    raise ConfigError(
        f"unknown state backend scheme {scheme!r}; expected memory, redis or rediss", key="state"
    )
