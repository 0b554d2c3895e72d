"""Rate-based rules are exact: a 150-request burst at limit 10 admits exactly 10."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bastion.clock import FrozenClock
from bastion.state.memory import MemoryStorage
from bastion.waf.webacl import WebAclEvaluator, parse_web_acl
from tests.redis_server import RedisServer
from tests.state.conftest import redis_server  # noqa: F401  (the session fixture)
from tests.waf.webacl.util import byte_match, req, rule, run, web_acl


def rate(limit: int = 10, window: int = 60, key: str = "IP", **extra: Any) -> dict[str, Any]:
    st: dict[str, Any] = {"Limit": limit, "EvaluationWindowSec": window,
                          "AggregateKeyType": key}
    st.update(extra)
    return {"RateBasedStatement": st}


@pytest.mark.parametrize("store", ["rate-store", "state-memory"])
def test_burst_of_150_at_limit_10_admits_exactly_10(store: str) -> None:
    clock = FrozenClock()
    acl = parse_web_acl(web_acl(rule("rbr", rate())))
    backend = MemoryStorage(clock) if store == "state-memory" else None
    ev = WebAclEvaluator(acl, clock=clock, store=backend)
    actions = [run(ev, req()).action for _ in range(150)]
    assert actions[:10] == ["ALLOW"] * 10
    assert actions[10:] == ["BLOCK"] * 140  # the first request over the limit is blocked
    r = run(ev, req())
    assert r.terminating_rule_type == "RATE_BASED"
    assert r.rate_based == [{"rateBasedRuleId": "test-acl:rbr", "rateBasedRuleName": "rbr",
                             "limitKey": "IP", "maxRateAllowed": 10,
                             "evaluationWindowSec": "60", "limitValue": "203.0.113.9"}]
    assert run(ev, req(ip="203.0.113.10")).action == "ALLOW"  # another key
    clock.advance(59.9)
    assert run(ev, req()).action == "BLOCK"
    clock.advance(0.1)  # the first admitted hit leaves the window
    assert [run(ev, req()).action for _ in range(11)] == ["ALLOW"] * 10 + ["BLOCK"]


@pytest.mark.parametrize("window", [60, 120, 300, 600])
def test_no_window_ever_holds_more_than_the_limit(window: int) -> None:
    """Spread requests over 3 windows at uneven steps; check every sliding window."""
    clock = FrozenClock()
    ev = WebAclEvaluator(parse_web_acl(web_acl(rule("rbr", rate(10, window)))), clock=clock)
    admitted: list[float] = []
    step = window / 37
    for _ in range(37 * 3):
        if run(ev, req()).action == "ALLOW":
            admitted.append(clock.time())
        clock.advance(step)
    for i, t in enumerate(admitted):
        inside = [u for u in admitted[i:] if u < t + window]
        assert len(inside) <= 10
    assert len(admitted) >= 30


def test_scope_down_and_custom_keys() -> None:
    st = rate(10, 60, "CUSTOM_KEYS", CustomKeys=[
        {"Header": {"Name": "x-api-key", "TextTransformations": [
            {"Priority": 0, "Type": "LOWERCASE"}]}},
        {"HTTPMethod": {}},
    ], ScopeDownStatement=byte_match({"UriPath": {}}, "/pets", "STARTS_WITH"))
    clock = FrozenClock()
    ev = WebAclEvaluator(parse_web_acl(web_acl(rule("rbr", st))), clock=clock)

    def hit(key: str | None, path: str = "/pets", method: str = "GET") -> str:
        h: tuple[tuple[str, str], ...] = (("Host", "h"),)
        if key is not None:
            h += (("X-Api-Key", key),)
        return run(ev, req(method, path, headers=h)).action

    assert [hit("K1") for _ in range(10)] == ["ALLOW"] * 10
    assert hit("k1") == "BLOCK"  # LOWERCASE: the same key
    r = run(ev, req(headers=(("X-Api-Key", "k1"),), path="/pets"))
    assert r.rate_based[0]["customValues"] == [
        {"key": "HEADER", "name": "x-api-key", "value": "k1"},
        {"key": "HTTP_METHOD", "name": "", "value": "GET"}]
    assert r.rate_based[0]["limitKey"] == "CUSTOMKEYS"
    assert hit("k1", method="POST") == "ALLOW"  # another method, another instance
    assert hit("k2") == "ALLOW"
    assert all(hit("k1", path="/other") == "ALLOW" for _ in range(20))  # out of scope
    assert all(hit(None) == "ALLOW" for _ in range(20))  # key missing: not counted


def test_forwarded_ip_constant_and_label_namespace_keys() -> None:
    clock = FrozenClock()
    fwd = rate(10, 60, "FORWARDED_IP", ForwardedIPConfig={
        "HeaderName": "X-Forwarded-For", "FallbackBehavior": "MATCH"})
    ev = WebAclEvaluator(parse_web_acl(web_acl(rule("rbr", fwd))), clock=clock)
    xff = (("X-Forwarded-For", "198.51.100.1, 10.0.0.1"),)
    assert [run(ev, req(headers=xff, ip=f"10.0.0.{i}")).action for i in range(11)] == [
        "ALLOW"] * 10 + ["BLOCK"]
    assert run(ev, req(headers=(("X-Forwarded-For", "junk"),))).action == "BLOCK"  # fallback
    assert run(ev, req(headers=())).action == "ALLOW"  # header missing: not counted

    const = rate(10, 60, "CONSTANT", ScopeDownStatement=byte_match({"Method": {}}, "POST",
                                                                   "EXACTLY"))
    ev2 = WebAclEvaluator(parse_web_acl(web_acl(rule("rbr", const))), clock=clock)
    got = [run(ev2, req("POST", ip=f"192.0.2.{i}")).action for i in range(11)]
    assert got == ["ALLOW"] * 10 + ["BLOCK"]

    doc = web_acl(
        rule("tag", byte_match({"UriPath": {}}, "/a", "STARTS_WITH"), "Count", priority=0,
             RuleLabels=[{"Name": "tier:free"}]),
        rule("rbr", rate(10, 60, "CUSTOM_KEYS", CustomKeys=[
            {"LabelNamespace": {"Namespace":
                                "awswaf:111122223333:webacl:test-acl:tier:"}}]), priority=1))
    ev3 = WebAclEvaluator(parse_web_acl(doc), clock=clock)
    assert [run(ev3, req(path="/a", ip=f"192.0.2.{i}")).action for i in range(11)] == [
        "ALLOW"] * 10 + ["BLOCK"]
    assert run(ev3, req(path="/b")).action == "ALLOW"


def test_count_action_rate_rule_records_without_blocking() -> None:
    clock = FrozenClock()
    ev = WebAclEvaluator(parse_web_acl(web_acl(rule("rbr", rate(), "Count"))), clock=clock)
    results = [run(ev, req()) for _ in range(12)]
    assert all(r.action == "ALLOW" for r in results)
    assert [bool(r.non_terminating) for r in results] == [False] * 10 + [True] * 2
    assert results[-1].rate_based[0]["rateBasedRuleName"] == "rbr"


@pytest.mark.parametrize(("field", "value", "msg"), [
    ("Limit", 9, "outside"),
    ("EvaluationWindowSec", 30, "must be one of"),
    ("AggregateKeyType", "CONSTANT", "needs a scope-down"),
])
def test_rate_validation(field: str, value: object, msg: str) -> None:
    from bastion.errors import ConfigErrors

    st = rate()
    st["RateBasedStatement"][field] = value
    with pytest.raises(ConfigErrors) as exc:
        parse_web_acl(web_acl(rule("rbr", st)))
    assert msg in str(exc.value)
    assert "Rules[0].Statement.RateBasedStatement" in str(exc.value)


HAMMER = Path(__file__).with_name("rate_hammer.py")
ROOT = Path(__file__).parents[3]


@pytest.mark.e2e
@pytest.mark.redis
def test_four_gateway_processes_sharing_redis_admit_exactly_the_limit(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    now = 1.8e9 + os.getpid()  # a fresh window per run on the shared server

    def burst() -> list[int]:
        args = [sys.executable, str(HAMMER), redis_server.uri, "10", "38", repr(now)]
        procs = [subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                                  text=True) for _ in range(4)]
        try:
            for p in procs:
                assert p.stdout is not None and p.stdout.readline().strip() == "ready"
            for p in procs:
                assert p.stdin is not None
                p.stdin.write("go\n")
                p.stdin.flush()
            outs = [p.communicate(timeout=60)[0] for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        return [int(o.strip()) for o in outs]

    assert sum(burst()) == 10  # 152 requests from one IP, zero over-admissions
    assert sum(burst()) == 0  # still inside the window
    now += 60  # after the window, the key is unblocked
    assert sum(burst()) == 10


def test_memory_store_is_bounded() -> None:
    import asyncio as aio

    from bastion.waf.webacl import MemoryRateStore

    clock = FrozenClock()
    store = MemoryRateStore(clock, max_keys=100)

    async def flood() -> None:
        for i in range(1000):
            await store.hit_window(f"k{i}", 10, 60)
        for _ in range(50):  # one key never holds more than `limit` timestamps
            await store.hit_window("hot", 10, 60)

    aio.run(flood())
    assert len(store) == 100
    assert store.evicted_live == 901
    clock.advance(61)
    aio.run(store.hit_window("fresh", 10, 60))
    assert store.evicted_live == 901  # the dropped key's window had emptied


def test_managed_keys_lists_the_limited_addresses() -> None:
    clock = FrozenClock()
    ev = WebAclEvaluator(parse_web_acl(web_acl(rule("rbr", rate()))), clock=clock)
    for ip in ("203.0.113.9", "2001:db8::7"):
        for _ in range(11):
            run(ev, req(ip=ip))
    for _ in range(5):
        run(ev, req(ip="198.51.100.1"))  # under the limit: not listed
    assert ev.managed_keys("rbr") == {
        "ManagedKeysIPV4": {"IPAddressVersion": "IPV4", "Addresses": ["203.0.113.9/32"]},
        "ManagedKeysIPV6": {"IPAddressVersion": "IPV6", "Addresses": ["2001:db8::7/128"]}}
    clock.advance(60)
    assert ev.managed_keys("rbr")["ManagedKeysIPV4"]["Addresses"] == []
