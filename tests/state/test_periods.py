from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from bastion.state import period_end, period_start

VECTORS = json.loads((Path(__file__).parent.parent / "vectors/state/periods.json").read_text())


def _ts(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


@pytest.mark.parametrize(("period", "now", "start", "end"), VECTORS)
def test_period_boundaries(period: str, now: str, start: str, end: str) -> None:
    assert period_start(period, _ts(now)) == _ts(start)  # type: ignore[arg-type]
    assert period_end(period, _ts(now)) == _ts(end)  # type: ignore[arg-type]


def test_seconds_periods_are_epoch_aligned() -> None:
    assert period_start(60, 1_700_000_030.5) == 1_699_999_980.0
    assert period_end(60, 1_700_000_030.5) == 1_700_000_040.0
    assert period_end(60, 1_700_000_040.0) == 1_700_000_100.0


@pytest.mark.parametrize("bad", ["YEAR", 0, -5])
def test_bad_periods(bad: object) -> None:
    with pytest.raises(ValueError):
        period_end(bad, 1_700_000_000.0)  # type: ignore[arg-type]
