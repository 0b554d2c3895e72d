"""Exact rate-based rules: aggregation keys, and the sliding-log store they count in.

AWS estimates rates and acts "within several minutes"; Bastion counts every request. A key's
hit is admitted only if fewer than ``Limit`` admitted hits lie in the last ``EvaluationWindowSec``
seconds, so no key ever gets more than ``Limit`` requests through in any window and the first
request over the limit is the first one refused. Refused hits are not logged: a key stops being
limited exactly when its oldest admitted hit leaves the window.

The store is anything with ``bastion.state.Storage``'s ``hit_window``; ``MemoryRateStore`` is the
single-process version on an injected clock, so tests move time by hand.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict, deque
from typing import Protocol

from bastion.clock import Clock
from bastion.state.policy import Feature, GuardedStorage
from bastion.waf.webacl.context import EvalContext
from bastion.waf.webacl.ipranges import parse_ip
from bastion.waf.webacl.model import RateBased
from bastion.waf.webacl.statements import forwarded_ips
from bastion.waf.webacl.transforms import apply_chain

__all__ = [
    "GuardedRateStore",
    "MemoryRateStore",
    "RateStore",
    "WindowHit",
    "aggregate_key",
    "storage_key",
]


class WindowHit(Protocol):
    @property
    def allowed(self) -> bool: ...

    @property
    def count(self) -> int: ...


class RateStore(Protocol):
    """The one verb rate-based rules need; ``bastion.state.Storage`` satisfies it as is."""

    async def hit_window(self, key: str, limit: int, window_s: float,
                         cost: int = 1) -> WindowHit: ...


class _Hit:
    __slots__ = ("allowed", "count")

    def __init__(self, allowed: bool, count: int) -> None:
        self.allowed = allowed
        self.count = count


class MemoryRateStore:
    """An exact sliding log per key, in one process, bounded in memory: at most ``limit``
    timestamps per key (only admitted hits are logged) and at most ``max_keys`` keys.

    When a new key would pass ``max_keys``, the least recently hit key is dropped. That is the
    one place exactness yields to the memory bound: if the dropped key still had hits inside its
    window (a flood of more than ``max_keys`` distinct live keys), it starts afresh;
    ``evicted_live`` counts those cases so an operator can raise the bound. AWS tracks at most
    10,000 keys per rule instance; the default here is ten times that.
    """

    __slots__ = ("_clock", "_logs", "evicted_live", "max_keys")

    def __init__(self, clock: Clock, *, max_keys: int = 100_000) -> None:
        self._clock = clock
        self._logs: OrderedDict[str, tuple[float, deque[float]]] = OrderedDict()
        self.max_keys = max_keys
        self.evicted_live = 0

    async def hit_window(self, key: str, limit: int, window_s: float, cost: int = 1) -> _Hit:
        now = self._clock.time()
        entry = self._logs.get(key)
        if entry is None:
            log: deque[float] = deque()
            self._logs[key] = (window_s, log)
            if len(self._logs) > self.max_keys:
                _, (old_window, old_log) = self._logs.popitem(last=False)
                if old_log and old_log[-1] > now - old_window:
                    self.evicted_live += 1
        else:
            log = entry[1]
            self._logs.move_to_end(key)
        edge = now - window_s
        while log and log[0] <= edge:
            log.popleft()
        if len(log) + cost > limit:
            return _Hit(False, len(log))
        for _ in range(cost):
            log.append(now)
        return _Hit(True, len(log))

    def __len__(self) -> int:
        return len(self._logs)


class GuardedRateStore:
    """The gateway's shared ``GuardedStorage`` as a ``RateStore``: rate rules are the
    ``RATE_RULE`` feature of the failure policy (fail open while the backend is down, as a
    throttle should, and counted as degraded)."""

    __slots__ = ("_guarded",)

    def __init__(self, guarded: GuardedStorage) -> None:
        self._guarded = guarded

    async def hit_window(self, key: str, limit: int, window_s: float,
                         cost: int = 1) -> WindowHit:
        return await self._guarded.hit_window(Feature.RATE_RULE, key, limit, window_s, cost)


def aggregate_key(rb: RateBased, ctx: EvalContext) -> list[tuple[str, str, str]] | bool | None:
    """The ``(log key, name, value)`` parts identifying the request's aggregation instance.

    ``None``: a key is missing, so the request is not counted (AWS). A bool is a forwarded-IP
    fallback verdict for a malformed header.
    """
    req = ctx.request
    if rb.key_type == "CONSTANT":
        return []
    if rb.key_type == "IP":
        return [("IP", "", req.client_ip)]
    if rb.key_type == "FORWARDED_IP":
        assert rb.forwarded is not None
        ips = forwarded_ips(ctx, rb.forwarded)
        if ips is None or isinstance(ips, bool):
            return ips
        return [("FORWARDED_IP", "", ips[0])]
    parts: list[tuple[str, str, str]] = []
    for k in rb.keys:
        value: str | None
        if k.kind == "IP":
            value = req.client_ip
        elif k.kind == "ForwardedIP":
            if rb.forwarded is None:
                return None
            ips = forwarded_ips(ctx, rb.forwarded)
            if ips is None or isinstance(ips, bool):
                return ips
            value = ips[0]
        elif k.kind == "HTTPMethod":
            value = req.method
        elif k.kind == "LabelNamespace":
            names = sorted(lab for lab in ctx.labels if lab.startswith(k.name))
            value = ",".join(names) if names else None
        else:
            raw = _raw(k.kind, k.name, ctx)
            value = None if raw is None else apply_chain(k.chain, raw).decode("latin-1")
        if value is None:
            return None
        parts.append((k.log_key, k.name, value))
    return parts


def _raw(kind: str, name: str, ctx: EvalContext) -> bytes | None:
    req = ctx.request
    v: str | None
    if kind == "Header":
        v = req.header(name)
    elif kind == "Cookie":
        v = req.cookie(name)
    elif kind == "QueryArgument":
        low = name.lower()
        v = next((val for n, val in req.query_args if n.lower() == low), None)
    elif kind == "QueryString":
        v = req.query or None
    elif kind == "UriPath":
        v = req.uri_path
    else:
        v = None
    return None if v is None else v.encode("latin-1", "replace")


def storage_key(instance: str, parts: list[tuple[str, str, str]]) -> str:
    """A bounded storage key: the rule instance plus a digest of the key values (values may be
    long or sensitive; the digest keeps both out of the backend's key space)."""
    h = hashlib.sha256()
    for kind, name, value in parts:
        if kind in ("IP", "FORWARDED_IP"):
            addr = parse_ip(value)
            value = str(addr) if addr is not None else value
        h.update(f"{kind}\x1f{name}\x1f{value}\x1e".encode("utf-8", "surrogateescape"))
    return f"waf:rbr:{instance}:{h.hexdigest()[:32]}"
