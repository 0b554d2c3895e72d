from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import uvloop

from bastion.clock import FrozenClock
from tests.helpers import GatewayFactory
from tests.helpers import gateway_for as _gateway_for

# In-process tests run on the loop production uses (uvloop), so transport quirks show up here.
asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def gateway_for(tmp_path: Path, clock: FrozenClock) -> GatewayFactory:
    return _gateway_for(tmp_path, clock)
