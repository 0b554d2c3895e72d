"""The chain: order resolved once and pinned, first Interruption wins, LOGGING always runs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bastion.clock import FrozenClock
from bastion.pipeline import Chain, Exchange, Headers, Interruption, Phase, Request, Response


@dataclass
class Probe:
    name: str
    phase: Phase
    priority: int = 0
    result: Interruption | None = None
    raises: bool = False
    calls: list[str] = field(default_factory=list)

    def run(self, ex: Exchange) -> Interruption | None:
        self.calls.append(self.name)
        ex.notes.setdefault("ran", []).append(self.name)
        if self.raises:
            raise RuntimeError("bug in a stage")
        if self.phase == Phase.INTEGRATION:
            ex.response = Response(200, [], b"ok")
        return self.result


@dataclass
class AsyncProbe(Probe):
    async def run(self, ex: Exchange) -> Interruption | None:  # type: ignore[override]
        await asyncio.sleep(0)
        return Probe.run(self, ex)


def render(ex: Exchange, why: Interruption) -> Response:
    return Response(why.status or 403, [], why.response_type.encode())


def exchange() -> Exchange:
    clock = FrozenClock()
    req = Request("GET", "/x", "", Headers())
    return Exchange(req, "rid", clock.time(), clock.monotonic())


def stages() -> list[Probe]:
    return [
        Probe("log", Phase.LOGGING),
        Probe("integration", Phase.INTEGRATION),
        AsyncProbe("auth-low", Phase.AUTHORIZE, priority=1),
        Probe("waf", Phase.FIREWALL),
        Probe("auth-high", Phase.AUTHORIZE, priority=10),
        Probe("route", Phase.ROUTE),
        Probe("cache-store", Phase.RESPONSE),
    ]


def test_resolved_order_is_pinned() -> None:
    chain = Chain(stages(), render)
    assert chain.order == (
        "FIREWALL:waf", "ROUTE:route", "AUTHORIZE:auth-high", "AUTHORIZE:auth-low",
        "INTEGRATION:integration", "RESPONSE:cache-store", "LOGGING:log")


def test_all_phases_run_in_order() -> None:
    chain = Chain(stages(), render)
    ex = exchange()
    response = asyncio.run(chain.handle(ex))
    asyncio.run(chain.log(ex))
    assert response.body == b"ok"
    assert ex.notes["ran"] == ["waf", "route", "auth-high", "auth-low", "integration",
                               "cache-store", "log"]
    assert set(ex.timings) >= {"waf", "route", "auth-high", "integration"}


def test_first_interruption_wins_and_logging_still_runs() -> None:
    s = stages()
    s[4].result = Interruption("ACCESS_DENIED", status=403)  # auth-high
    chain = Chain(s, render)
    ex = exchange()
    response = asyncio.run(chain.handle(ex))
    asyncio.run(chain.log(ex))
    assert response.status == 403 and response.body == b"ACCESS_DENIED"
    assert ex.interruption is s[4].result
    assert ex.notes["ran"] == ["waf", "route", "auth-high", "log"]


def test_a_stage_that_raises_becomes_a_500_not_a_crash() -> None:
    s = stages()
    s[3].raises = True  # waf
    chain = Chain(s, render)
    ex = exchange()
    response = asyncio.run(chain.handle(ex))
    assert response.status == 500
    assert ex.interruption is not None
    assert ex.interruption.response_type == "API_CONFIGURATION_ERROR"


def test_a_failing_logging_stage_never_propagates() -> None:
    s = stages()
    s[0].raises = True
    extra = Probe("log-2", Phase.LOGGING, priority=-1)
    chain = Chain([*s, extra], render)
    ex = exchange()
    asyncio.run(chain.handle(ex))
    asyncio.run(chain.log(ex))
    assert extra.calls == ["log-2"]


def test_no_integration_means_500() -> None:
    chain = Chain([Probe("route", Phase.ROUTE)], render)
    assert asyncio.run(chain.handle(exchange())).status == 500
