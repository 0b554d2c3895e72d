from __future__ import annotations

import pytest

from bastion.clock import FrozenClock


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()
