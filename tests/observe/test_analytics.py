from __future__ import annotations

import random
from pathlib import Path

import pytest

from bastion.clock import FrozenClock
from bastion.observe.analytics import LogStore
from bastion.observe.audit import AuditTrail, Signer, UserIdentity
from bastion.observe.waflog import HttpRequestInfo, WafLogBuilder
from bastion.observe.writer import LogWriter

DAY = 86400.0
T0 = 1_767_225_600.0  # 2026-01-01


def _fill(root: Path, n: int = 300) -> None:
    rng = random.Random(4)
    b = WafLogBuilder(webacl_id="acl")
    with LogWriter(root, clock=FrozenClock(T0), start=False) as w:
        for i in range(n):
            ts = T0 + (i % 3) * DAY + i
            action = "BLOCK" if i % 4 == 0 else "ALLOW"
            rec = b.build(timestamp_ms=int(ts * 1000), request=HttpRequestInfo(
                client_ip=f"10.0.0.{i % 7}", method="GET", uri=f"/pets/{i}", request_id=f"r{i}"),
                action=action, terminating_rule_id="SQLi" if action == "BLOCK" else
                "Default_Action", labels=["bastion:acl:x"],
                bastion={"route": "GET /pets/{petId}", "status": 403 if action == "BLOCK" else 200,
                         "latencyMs": {"total": rng.random() * 10}})
            w.submit("waf", rec, ts=ts)
            w.submit("access", {"requestId": f"r{i}", "ip": "10.0.0.1", "status": "200",
                                "httpMethod": "GET", "resourcePath": "/pets/{petId}"}, ts=ts)


def test_hot_then_compacted_queries_agree(tmp_path: Path) -> None:
    _fill(tmp_path)
    store = LogStore(tmp_path)
    q = "SELECT action, count(*) FROM waf_logs GROUP BY 1 ORDER BY 1"
    hot = store.query(q).rows
    assert hot == [("ALLOW", 225), ("BLOCK", 75)]
    res = store.compact(min_age_seconds=0)
    assert res.records == 600 and len(res.partitions) == 6
    assert not list(tmp_path.glob("waf/dt=*/part-*.jsonl"))
    assert store.query(q).rows == hot
    top = store.query("SELECT terminatingRuleId, count(*) c FROM waf_logs WHERE action='BLOCK' "
                      "GROUP BY 1 ORDER BY c DESC LIMIT 5").rows
    assert top == [("SQLi", 75)]
    assert store.query("SELECT count(*) FROM access_logs WHERE status_code = 200").rows == [(300,)]
    p = store.query("SELECT quantile_cont(latency_ms, 0.95) FROM waf_logs").rows[0][0]
    assert 0 < p < 10


def test_day_filter_reads_only_that_partition(tmp_path: Path) -> None:
    _fill(tmp_path)
    store = LogStore(tmp_path)
    store.compact(min_age_seconds=0)
    assert store.query("SELECT count(*) FROM waf_logs", day="2026-01-02").rows == [(100,)]
    # corrupt every other day's file: a day query never opens them, a full query does
    for f in tmp_path.glob("parquet/waf/dt=2026-01-0[13]/*.parquet"):
        f.write_bytes(b"not parquet")
    assert store.query("SELECT count(*) FROM waf_logs", day="2026-01-02").rows == [(100,)]
    import duckdb
    with pytest.raises(duckdb.Error):
        store.query("SELECT count(*) FROM waf_logs")
    with pytest.raises(ValueError):
        store.query("SELECT 1", day="2026-01-02' OR 1=1")


def test_query_is_read_only_and_sandboxed(tmp_path: Path) -> None:
    _fill(tmp_path, 10)
    store = LogStore(tmp_path)
    for bad in ("COPY (SELECT 1) TO 'x.csv'", "SELECT 1; SELECT 2", "CREATE TABLE t (a INT)",
                "SET enable_external_access = true"):
        with pytest.raises(ValueError, match="single SELECT"):
            store.query(bad)
    import duckdb
    with pytest.raises(duckdb.Error):
        store.query("SELECT * FROM read_csv('/etc/passwd')")


def test_retention_drops_old_partitions(tmp_path: Path) -> None:
    _fill(tmp_path)
    store = LogStore(tmp_path, clock=FrozenClock(T0 + 2 * DAY))
    store.compact(kinds=["waf"], min_age_seconds=0)
    removed = store.retain(1)
    assert sorted(removed) == ["access/dt=2026-01-01", "parquet/waf/dt=2026-01-01"]
    assert store.query("SELECT count(*) FROM waf_logs").rows == [(200,)]


def test_audit_events_view(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519
    clock = FrozenClock(T0)
    trail = AuditTrail(tmp_path / "audit", Signer(ed25519.Ed25519PrivateKey.generate()), clock)
    for name in ("CreateKey", "RotateKey", "ReloadConfig"):
        trail.event(name, UserIdentity(type="IAMUser", user_name="ops"))
    trail.close()
    store = LogStore(tmp_path / "logs", audit_dir=tmp_path / "audit")
    rows = store.query("SELECT eventName, eventType FROM audit_events ORDER BY 1").rows
    assert rows == [("CreateKey", "AwsApiCall"), ("ReloadConfig", "AwsApiCall"),
                    ("RotateKey", "AwsApiCall")]


def test_empty_store_has_views(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    for view in ("waf_logs", "access_logs", "audit_events"):
        assert store.query(f"SELECT count(*) FROM {view}").rows == [(0,)]


def test_compaction_counts_skipped_lines(tmp_path: Path) -> None:
    d = tmp_path / "access" / "dt=2026-01-01"
    d.mkdir(parents=True)
    (d / "part-1-0-000001.jsonl").write_text('{"requestId": "a"}\n{"requestId": "b", "sta\n')
    res = LogStore(tmp_path).compact(min_age_seconds=0)
    assert (res.records, res.skipped) == (1, 1)


def test_audit_day_filter(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519
    clock = FrozenClock(T0)
    trail = AuditTrail(tmp_path / "audit", Signer(ed25519.Ed25519PrivateKey.generate()), clock)
    trail.event("DayOne", UserIdentity(type="Root"))
    trail.flush()
    clock.advance(DAY)
    trail.event("DayTwo", UserIdentity(type="Root"))
    trail.close()
    store = LogStore(tmp_path / "logs", audit_dir=tmp_path / "audit")
    q = "SELECT eventName FROM audit_events ORDER BY 1"
    assert store.query(q).rows == [("DayOne",), ("DayTwo",)]
    assert store.query(q, day="2026-01-02").rows == [("DayTwo",)]
