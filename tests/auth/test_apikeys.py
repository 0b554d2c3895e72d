from __future__ import annotations

import argparse
import asyncio
import json
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bastion.auth.apikeys import (
    ApiKeyStore,
    UsagePlan,
    UsagePlanEnforcer,
    generate_key,
    presented_key,
)
from bastion.auth.keys_cli import add_parser, run
from bastion.auth.outcome import AuthOutcome, allowed
from bastion.clock import FrozenClock
from bastion.errors import ConfigError
from bastion.state import GuardedStorage, MemoryStorage

T0 = datetime(2026, 3, 30, 23, 59, 0, tzinfo=UTC).timestamp()  # a Monday


@pytest.fixture
def clk() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def store(tmp_path: Path, clk: FrozenClock) -> ApiKeyStore:
    return ApiKeyStore(tmp_path / "keys.json", clock=clk)


def plan(**kw: Any) -> UsagePlan:
    doc = {"id": "gold", "name": "Gold", "apiStages": [
        {"apiId": "api1", "stage": "prod",
         "throttle": {"/pets/{petId}/DELETE": {"rateLimit": 0.5, "burstLimit": 1}}}]}
    doc.update(kw)
    return UsagePlan.from_dict(doc)


def check(enf: UsagePlanEnforcer, key: str | None, method: str = "GET",
          path: str = "/pets", stage: str = "prod") -> AuthOutcome:
    return asyncio.run(enf.check(key, api_id="api1", stage=stage, resource_path=path,
                                 method=method))


def test_keys_are_hashed_at_rest(store: ApiKeyStore, tmp_path: Path) -> None:
    rec, value = store.create("alice", plans=["gold"])
    assert 20 <= len(value) <= 128 and value.isalnum()
    text = (tmp_path / "keys.json").read_text()
    assert value not in text and value[4:12] not in text
    assert stat.S_IMODE((tmp_path / "keys.json").stat().st_mode) == 0o600
    again = ApiKeyStore(tmp_path / "keys.json")
    assert again.lookup(value) == rec
    assert again.lookup(value[:-1] + ("A" if value[-1] != "A" else "B")) is None
    assert again.lookup("short") is None


def test_two_stores_hash_differently(tmp_path: Path) -> None:
    a, b = ApiKeyStore(tmp_path / "a.json"), ApiKeyStore(tmp_path / "b.yaml")
    v = generate_key()
    ra, _ = a.create("x", value=v)
    rb, _ = b.create("x", value=v)
    assert ra.digest != rb.digest  # per-store salt
    assert ApiKeyStore(tmp_path / "b.yaml").lookup(v) is not None


def test_rotate_disable_and_audit(tmp_path: Path, clk: FrozenClock) -> None:
    events: list[dict[str, Any]] = []
    s = ApiKeyStore(tmp_path / "k.json", clock=clk, audit=lambda e: events.append(dict(e)))
    rec, old = s.create("bob")
    rec2, new = s.rotate(rec.id)
    assert s.lookup(old) is None and s.lookup(new) == rec2
    s.set_enabled(rec.id, False)
    assert not s.lookup(new).enabled  # type: ignore[union-attr]
    assert [e["action"] for e in events] == ["create", "rotate", "disable"]
    assert all(old not in json.dumps(e) and new not in json.dumps(e) for e in events)


def test_bad_values(store: ApiKeyStore) -> None:
    with pytest.raises(ValueError):
        store.create("x", value="tooshort")
    with pytest.raises(ValueError):
        store.create("x", value="a" * 19 + "-")
    _, v = store.create("x")
    with pytest.raises(ValueError, match="already"):
        store.create("y", value=v)


def test_forbidden_cases(store: ApiKeyStore, clk: FrozenClock) -> None:
    enf = UsagePlanEnforcer(store, [plan()], MemoryStorage(clk), clk)
    _, in_plan = store.create("a", plans=["gold"])
    _, no_plan = store.create("b")
    rec, disabled = store.create("c", plans=["gold"])
    store.set_enabled(rec.id, False)
    cases = {None: "missing_api_key", "": "missing_api_key",
             generate_key(): "unknown_api_key", disabled: "disabled_api_key",
             no_plan: "not_in_plan"}
    for key, code in cases.items():
        out = check(enf, key)
        assert (out.status, out.error_type, out.body(), out.reason_code) == (
            403, "ForbiddenException", {"message": "Forbidden"}, code)
    assert check(enf, in_plan, stage="beta").reason_code == "not_in_plan"
    ok = check(enf, in_plan)
    assert ok.ok and ok.context["usagePlanId"] == "gold"
    assert in_plan not in json.dumps([e.detail for e in ok.trace], default=str)


def test_burst_then_steady_rate(store: ApiKeyStore, clk: FrozenClock) -> None:
    p = plan(throttle={"rateLimit": 2.0, "burstLimit": 5})
    enf = UsagePlanEnforcer(store, [p], MemoryStorage(clk), clk)
    _, key = store.create("a", plans=["gold"])
    results = [check(enf, key).ok for _ in range(7)]
    assert results == [True] * 5 + [False] * 2
    out = check(enf, key)
    assert (out.status, out.error_type, out.body()) == (
        429, "TooManyRequestsException", {"message": "Too Many Requests"})
    admitted = 0
    for _ in range(20):  # 10 s at 2 rps -> 20 requests, one every 0.5 s
        clk.advance(0.5)
        admitted += check(enf, key).ok
        assert not check(enf, key).ok
    assert admitted == 20


def test_method_override(store: ApiKeyStore, clk: FrozenClock) -> None:
    p = plan(throttle={"rateLimit": 100.0, "burstLimit": 100})
    enf = UsagePlanEnforcer(store, [p], GuardedStorage(MemoryStorage(clk), clk), clk)
    _, key = store.create("a", plans=["gold"])
    assert check(enf, key, "DELETE", "/pets/{petId}").ok
    out = check(enf, key, "DELETE", "/pets/{petId}")
    assert out.status == 429 and "/pets/{petId}/DELETE" in out.reason
    assert check(enf, key, "GET", "/pets/{petId}").ok
    clk.advance(2)
    assert check(enf, key, "DELETE", "/pets/{petId}").ok


def test_quota_resets_at_utc_day_boundary(store: ApiKeyStore, clk: FrozenClock) -> None:
    enf = UsagePlanEnforcer(store, [plan(quota={"limit": 3, "period": "DAY"})],
                            MemoryStorage(clk), clk)
    _, key = store.create("a", plans=["gold"])
    assert [check(enf, key).ok for _ in range(3)] == [True] * 3
    out = check(enf, key)
    assert (out.status, out.error_type, out.body()) == (
        429, "LimitExceededException", {"message": "Limit Exceeded"})
    clk.advance(59)  # 23:59:59 - still the same UTC day
    assert not check(enf, key).ok
    clk.advance(1)  # 00:00:00 next day
    assert check(enf, key).ok


@pytest.mark.parametrize(("period", "until_reset"), [
    ("WEEK", 6 * 86400 + 60.0),  # Monday 23:59 -> next Monday 00:00 (ISO weeks)
    ("MONTH", 60.0 + 86400),  # March 30 23:59 -> April 1 00:00
])
def test_quota_week_and_month(store: ApiKeyStore, clk: FrozenClock, period: str,
                              until_reset: float) -> None:
    enf = UsagePlanEnforcer(store, [plan(quota={"limit": 1, "period": period})],
                            MemoryStorage(clk), clk)
    _, key = store.create("a", plans=["gold"])
    assert check(enf, key).ok
    clk.advance(until_reset - 1)
    assert check(enf, key).reason_code == "quota_exceeded"
    clk.advance(1)
    assert check(enf, key).ok


def test_quota_offset_applies_to_initial_period(store: ApiKeyStore, clk: FrozenClock) -> None:
    p = plan(quota={"limit": 3, "period": "DAY", "offset": 2}, createdDate=T0 - 10)
    enf = UsagePlanEnforcer(store, [p], MemoryStorage(clk), clk)
    _, key = store.create("a", plans=["gold"])
    assert [check(enf, key).ok for _ in range(2)] == [True, False]
    clk.advance(60)
    assert [check(enf, key).ok for _ in range(4)] == [True, True, True, False]


def test_plan_validation() -> None:
    with pytest.raises(ConfigError):
        plan(quota={"limit": 1, "period": "YEAR"})
    with pytest.raises(ConfigError):
        plan(throttle={"rateLimit": "x"})
    with pytest.raises(ConfigError):
        UsagePlan.from_dict({"name": "no id"})


def cli(tmp_path: Path, *argv: str, audit: Any = None) -> int:
    parser = argparse.ArgumentParser(prog="bastion")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["keys", "--store", str(tmp_path / "k.json"), *argv])
    return run(args, audit=audit)


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events: list[Any] = []
    assert cli(tmp_path, "create", "--name", "ci", "--plan", "gold", "--json",
               audit=events.append) == 0
    made = json.loads(capsys.readouterr().out)
    assert cli(tmp_path, "list") == 0
    listing = capsys.readouterr().out
    assert made["id"] in listing and made["value"] not in listing
    assert made["value"][:4] in listing
    assert cli(tmp_path, "rotate", made["id"], "--json") == 0
    rotated = json.loads(capsys.readouterr().out)
    assert rotated["value"] != made["value"]
    assert cli(tmp_path, "disable", made["id"]) == 0
    assert "disabled" in capsys.readouterr().out
    assert cli(tmp_path, "list", "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["enabled"] is False and rows[0]["plans"] == ["gold"]
    assert cli(tmp_path, "enable", "nope") == 1
    assert "no API key" in capsys.readouterr().err
    assert [e["action"] for e in events] == ["create"]
    (tmp_path / "k.json").write_text("{")
    assert cli(tmp_path, "list") == 2


def test_running_enforcer_sees_cli_changes(tmp_path: Path, clk: FrozenClock) -> None:
    gateway_view = ApiKeyStore(tmp_path / "k.json", clock=clk)
    _, key = gateway_view.create("a", plans=["gold"])
    enf = UsagePlanEnforcer(gateway_view, [plan()], MemoryStorage(clk), clk, refresh_interval=5)
    assert check(enf, key).ok
    cli_view = ApiKeyStore(tmp_path / "k.json", clock=clk)  # another process
    cli_view.set_enabled(cli_view.records()[0].id, False)
    assert check(enf, key).ok  # not re-read yet
    clk.advance(5)
    out = check(enf, key)
    assert out.reason_code == "disabled_api_key"
    assert any(e.event == "apikey.store_reloaded" for e in out.trace)
    # a concurrent writer starts from the file's latest state: nothing is lost
    gateway_view.create("b")
    assert {r.name for r in ApiKeyStore(tmp_path / "k.json").records()} == {"a", "b"}
    assert not ApiKeyStore(tmp_path / "k.json").records()[0].enabled


def test_presented_key_sources() -> None:
    out = allowed(usage_identifier_key="k" * 20)
    assert presented_key("HEADER", header="h" * 20, authorizer=out) == "h" * 20
    assert presented_key("AUTHORIZER", header="h" * 20, authorizer=out) == "k" * 20
    assert presented_key("AUTHORIZER", header="h" * 20) is None
    with pytest.raises(ValueError):
        presented_key("QUERY", header=None)
