from __future__ import annotations

from pathlib import Path

import pytest

from bastion.clock import FrozenClock
from tests.helpers import GatewayFactory
from tests.helpers import gateway_for as _gateway_for


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def gateway_for(tmp_path: Path, clock: FrozenClock) -> GatewayFactory:
    return _gateway_for(tmp_path, clock)
