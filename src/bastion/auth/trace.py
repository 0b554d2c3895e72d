"""Decision-trace helpers: what each authorizer did, with secrets masked.

A 403 or 401 from a gateway is opaque by design; the trace is the operator's answer to "why".
It must never become a way to leak a bearer token or API key into logs, so every secret goes
through ``mask`` (a short prefix plus a truncated SHA-256, enough to correlate, not to replay).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any, Literal

from bastion.pipeline.exchange import TraceEvent

__all__ = ["TraceLevel", "Tracer", "mask", "select"]

_PREFIX = 4
TraceLevel = Literal["off", "errors", "info"]


def mask(secret: str | None) -> str:
    """``abcd…#1a2b3c4d``: the first 4 characters and 8 hex digits of the SHA-256 of ``secret``."""
    if secret is None:
        return "<none>"
    if secret == "":
        return "<empty>"
    digest = hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    head = secret[:_PREFIX] if len(secret) > 2 * _PREFIX else ""
    return f"{head}…#{digest}"


class Tracer:
    """Collects ``TraceEvent``s for one stage name; ``events`` is handed back in the result."""

    __slots__ = ("events", "stage")

    def __init__(self, stage: str) -> None:
        self.stage = stage
        self.events: list[TraceEvent] = []

    def add(self, event: str, **detail: Any) -> None:
        self.events.append(TraceEvent(self.stage, event, detail))


def select(events: Iterable[TraceEvent], level: TraceLevel, ok: bool) -> list[TraceEvent]:
    """The events to keep for a decision: none (``off``), only refusals' (``errors``), all."""
    if level == "off" or (level == "errors" and ok):
        return []
    return list(events)
