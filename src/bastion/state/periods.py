"""Period boundaries for ``fixed_window``: usage-plan quotas reset at the start of each UTC DAY,
WEEK or MONTH (as API Gateway usage plans do), throttling-style counters every ``n`` seconds.

The storage verb takes the absolute end of the period (``reset_at``) rather than a duration
because a month has no fixed length; the backends append ``reset_at`` to the key, so a new period
always starts from zero even if the previous counter has not been reclaimed yet.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Literal

__all__ = ["Period", "period_end", "period_start"]

Period = Literal["DAY", "WEEK", "MONTH"]


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def period_start(period: Period | float, now: float) -> float:
    """Wall time at which the period containing ``now`` began.

    ``period`` is ``"DAY"``, ``"WEEK"`` (weeks start Monday 00:00 UTC, ISO 8601) or ``"MONTH"``,
    or a number of seconds for epoch-aligned fixed windows.
    """
    if isinstance(period, int | float) and not isinstance(period, bool):
        if not (math.isfinite(period) and period > 0):
            raise ValueError(f"a period in seconds must be > 0, got {period!r}")
        return math.floor(now / period) * float(period)
    day = _utc(now).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "DAY":
        start = day
    elif period == "WEEK":
        start = day - timedelta(days=day.weekday())
    elif period == "MONTH":
        start = day.replace(day=1)
    else:
        raise ValueError(f"unknown period {period!r}; expected DAY, WEEK or MONTH")
    return start.timestamp()


def period_end(period: Period | float, now: float) -> float:
    """Wall time at which the period containing ``now`` ends (the next period's start)."""
    start = period_start(period, now)
    if isinstance(period, int | float) and not isinstance(period, bool):
        return start + float(period)
    begin = _utc(start)
    if period == "DAY":
        end = begin + timedelta(days=1)
    elif period == "WEEK":
        end = begin + timedelta(days=7)
    else:
        end = (begin + timedelta(days=32)).replace(day=1)
    return end.timestamp()
