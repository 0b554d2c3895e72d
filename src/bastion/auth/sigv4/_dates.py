"""SigV4 timestamps: ``YYYYMMDDTHHMMSSZ`` (X-Amz-Date) and the HTTP ``Date`` header."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["format_amz_date", "parse_amz_date", "parse_http_date"]

_AMZ = re.compile(r"^\d{8}T\d{6}Z$")


def format_amz_date(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y%m%dT%H%M%SZ")


def parse_amz_date(value: str) -> float | None:
    """Epoch seconds of an ISO-8601 basic-format timestamp, or None if malformed."""
    if not _AMZ.match(value):
        return None
    year, month, day = int(value[0:4]), int(value[4:6]), int(value[6:8])
    hour, minute, second = int(value[9:11]), int(value[11:13]), int(value[13:15])
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]
            and hour < 24 and minute < 60 and second < 60):
        return None
    return float(calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)))


def parse_http_date(value: str) -> float | None:
    """Epoch seconds of an RFC 7231 ``Date`` header value, or None if malformed."""
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
