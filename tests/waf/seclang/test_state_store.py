"""CRS persistent collections shared through bastion.state by two gateway processes."""

from __future__ import annotations

import asyncio

from bastion.clock import FrozenClock
from bastion.state import Feature, GuardedStorage, MemoryStorage
from bastion.waf.seclang.registry import Primitives
from bastion.waf.seclang.state_store import StateCollectionStore

from .conftest import make_waf
from .test_engine import ids, run

RULES = """
SecAction "id:1,phase:1,pass,nolog,initcol:ip=%{remote_addr},setvar:ip.hits=+1,\
setvar:ip.seen=yes,expirevar:ip.seen=60"
SecRule IP:hits "@ge 4" "id:2,phase:1,pass,msg:'hits %{ip.hits}'"
"""


def test_two_processes_add_up_their_counters(prims: Primitives, clock: FrozenClock) -> None:
    backend = GuardedStorage(MemoryStorage(clock), clock)
    stores = [StateCollectionStore(backend, clock) for _ in range(2)]
    wafs = [make_waf(prims, RULES, clock=clock, store=s) for s in stores]

    async def scenario() -> list[list[int]]:
        fired: list[list[int]] = []
        for i in range(5):  # alternate between the two "processes"
            tx, _ = run(wafs[i % 2])
            fired.append(ids(tx))
            assert await stores[i % 2].flush() == 1
        return fired

    fired = asyncio.run(scenario())
    # each process counts from its mirror, refreshed from the backend after its own flush:
    # P0 sees 1 (backend 1), P1 1 (backend 2), P0 2 (3), P1 3 (4), P0 4 (5) and fires; the
    # backend holds the sum of every process's increments
    fields = asyncio.run(backend.hget_all(Feature.COLLECTION, "crs:col:ip:192.0.2.1"))
    assert fields is not None and fields["hits"] == b"5"
    assert fields["seen"] == b"yes" and "__expire_seen" in fields
    assert fired == [[], [], [], [], [2]]


def test_prefetch_warms_the_mirror(prims: Primitives, clock: FrozenClock) -> None:
    backend = GuardedStorage(MemoryStorage(clock), clock)
    a, b = StateCollectionStore(backend, clock), StateCollectionStore(backend, clock)
    waf_a, waf_b = make_waf(prims, RULES, clock=clock, store=a), make_waf(
        prims, RULES, clock=clock, store=b)

    async def scenario() -> list[int]:
        for _ in range(3):
            run(waf_a)
            await a.flush()
        await b.prefetch("IP", "192.0.2.1")
        tx, _ = run(waf_b)
        await b.flush()
        return ids(tx)

    assert asyncio.run(scenario()) == [2]


def test_records_loaded_and_never_changed_do_not_pile_up(prims: Primitives,
                                                        clock: FrozenClock) -> None:
    backend = GuardedStorage(MemoryStorage(clock), clock)
    store = StateCollectionStore(backend, clock, max_local=50)
    waf = make_waf(prims, 'SecAction "id:1,phase:1,pass,nolog,initcol:ip=%{remote_addr}"',
                   clock=clock, store=store)
    for i in range(500):  # 500 clients whose records no rule changes
        run(waf, ip=f"198.51.100.{i % 250}" if i < 250 else f"203.0.113.{i % 250}")
        assert len(store._loaded) <= 50
