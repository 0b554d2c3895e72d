"""Time as a dependency: every component that reads the clock takes a ``Clock``.

Rate limits, token expiry, SigV4 skew and audit timestamps all depend on "now"; tests pass a
``FrozenClock`` and move it by hand instead of sleeping.
"""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "FrozenClock", "SystemClock"]


class Clock(Protocol):
    """Wall time (``time``) for timestamps and a monotonic reading for durations."""

    def time(self) -> float: ...

    def monotonic(self) -> float: ...


class SystemClock:
    """The real clock."""

    __slots__ = ()

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class FrozenClock:
    """A clock that only moves when told to; both readings advance together."""

    __slots__ = ("_mono", "_now")

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self._now = now
        self._mono = 1000.0

    def time(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a frozen clock only moves forward")
        self._now += seconds
        self._mono += seconds

    def set(self, now: float) -> None:
        """Jump wall time to ``now`` (forward only), moving the monotonic reading alike."""
        self.advance(now - self._now)
