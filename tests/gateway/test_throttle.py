"""Throttling: token buckets per method / stage / account on a frozen clock."""

from __future__ import annotations

import asyncio

from bastion.clock import FrozenClock
from bastion.gateway.throttle import throttle_layer
from tests.helpers import GatewayFactory, call, op

PATHS = {"/pets": {"get": op("echo"), "post": op("echo")}}


def statuses(app: object, n: int, method: str = "GET") -> list[int]:
    async def go() -> list[int]:
        return [(await call(app, method, "/prod/pets")).status  # type: ignore[arg-type]
                for _ in range(n)]
    return asyncio.run(go())


def test_burst_then_steady_rate(gateway_for: GatewayFactory, clock: FrozenClock) -> None:
    _, app = gateway_for(PATHS, layers=[throttle_layer],
                         throttle={"methods": {"/pets/GET": {"rate": 10, "burst": 20}}})
    assert statuses(app, 25) == [200] * 20 + [429] * 5
    # steady state: 10 tokens a second
    admitted = 0
    for _ in range(100):
        clock.advance(0.05)
        admitted += statuses(app, 1).count(200)
    assert abs(admitted - 50) <= 1  # 5 s at 10 rps, within 5 %
    # another method is not limited by this bucket
    assert statuses(app, 5, "POST") == [200] * 5


def test_429_body_and_type(gateway_for: GatewayFactory) -> None:
    _, app = gateway_for(PATHS, layers=[throttle_layer],
                         throttle={"stage": {"rate": 1, "burst": 1}})
    asyncio.run(call(app, "GET", "/prod/pets"))
    reply = asyncio.run(call(app, "GET", "/prod/pets"))
    assert reply.status == 429
    assert reply.body == b'{"message":"Too Many Requests"}'
    assert reply.header("x-amzn-ErrorType") == "TooManyRequestsException"
    assert reply.header("Retry-After") is None  # AWS sends none; opt-in below


def test_account_defaults_are_aws_limits(gateway_for: GatewayFactory) -> None:
    gw, _ = gateway_for(PATHS, layers=[throttle_layer])
    [stage] = [s for s in gw.chain._request if s[0].name == "throttle"]
    assert (stage[0].account.rate, stage[0].account.burst) == (10_000, 5_000)  # type: ignore[attr-defined]


def test_account_bucket_applies_across_methods(gateway_for: GatewayFactory) -> None:
    _, app = gateway_for(PATHS, layers=[throttle_layer], throttle={"rate": 1, "burst": 3})
    assert statuses(app, 2) + statuses(app, 2, "POST") == [200, 200, 200, 429]


def test_opt_in_rate_limit_headers(gateway_for: GatewayFactory, clock: FrozenClock) -> None:
    _, app = gateway_for(PATHS, layers=[throttle_layer],
                         throttle={"stage": {"rate": 0.5, "burst": 2}, "headers": True})
    first = asyncio.run(call(app, "GET", "/prod/pets"))
    assert first.header("RateLimit-Limit") == "2"
    assert first.header("RateLimit-Remaining") == "1"
    asyncio.run(call(app, "GET", "/prod/pets"))
    reply = asyncio.run(call(app, "GET", "/prod/pets"))
    assert reply.status == 429
    assert reply.header("Retry-After") == "2"


def test_bad_method_key_is_a_config_error(gateway_for: GatewayFactory) -> None:
    import pytest

    from bastion.errors import ConfigError

    with pytest.raises(ConfigError, match="throttle.methods.pets: must look like"):
        gateway_for(PATHS, layers=[throttle_layer],
                    throttle={"methods": {"pets": {"rate": 1, "burst": 1}}})


def test_zero_limit_refuses_everything(gateway_for: GatewayFactory) -> None:
    _, app = gateway_for(PATHS, layers=[throttle_layer],
                         throttle={"stage": {"rate": 0, "burst": 0}})
    assert statuses(app, 3) == [429] * 3
