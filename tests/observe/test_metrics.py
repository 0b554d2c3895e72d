from __future__ import annotations

import random
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bastion.clock import FrozenClock
from bastion.observe.metrics import (
    FORBIDDEN_LABELS,
    OTEL_BUCKETS,
    GatewayMetrics,
    Registry,
    method_label,
    status_class,
)
from bastion.observe.writer import LogWriter


def _traffic(m: GatewayMetrics, n_ips: int, n: int = 2000, seed: int = 0) -> None:
    rng = random.Random(seed)
    for i in range(n):
        _ip = f"10.{i % n_ips // 65536}.{i % n_ips // 256 % 256}.{i % n_ips % 256}"  # never a label
        status = rng.choice([200, 200, 200, 404, 403, 500])
        action = "BLOCK" if status == 403 else "ALLOW"
        m.observe_request(route=rng.choice(["GET /pets", "GET /pets/{petId}"]),
                          method=rng.choice(["GET", "POST", "BREW"]), status=status,
                          action=action, duration_s=rng.random() / 10,
                          integration_s=rng.random() / 20, waf_s=0.0002,
                          authorizer="jwt", authorizer_s=0.001,
                          terminating_rule="SQLi" if action == "BLOCK" else "Default_Action",
                          counted_rules=["RateWatch"] if i % 7 == 0 else [],
                          labels=["bastion:main:sqli"] if action == "BLOCK" else [],
                          cache_hit=rng.choice([True, False, None]))


def _series(text: str) -> int:
    return sum(len(f.samples) for f in text_string_to_metric_families(text))


def test_exposition_parses_and_follows_naming() -> None:
    m = GatewayMetrics(version="1.2.3")
    _traffic(m, 10)
    text = m.expose()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["bastion_http_requests"].type == "counter"
    for f in families.values():
        if f.type == "counter":
            assert all(s.name.endswith("_total") or s.name.endswith("_created")
                       for s in f.samples)
        if f.type == "histogram":
            assert f.name.endswith("_seconds")
            les = sorted({float(s.labels["le"]) for s in f.samples if "le" in s.labels})
            assert les == [*OTEL_BUCKETS, float("inf")]
        for s in f.samples:
            assert not (set(s.labels) & FORBIDDEN_LABELS)
    methods = {s.labels["method"] for s in families["bastion_http_requests"].samples}
    assert methods == {"GET", "POST", "_OTHER"}


def test_series_count_constant_from_10_to_10000_ips() -> None:
    a, b = GatewayMetrics(), GatewayMetrics()
    _traffic(a, 10, n=20000, seed=3)
    _traffic(b, 10_000, n=20000, seed=3)
    assert _series(a.expose()) == _series(b.expose())


def test_forbidden_labels_and_names_refused() -> None:
    r = Registry()
    for bad in ("client_ip", "user", "path"):
        with pytest.raises(ValueError, match="unbounded"):
            r.counter("x_total", "x", (bad,))
    with pytest.raises(ValueError, match="_total"):
        r.counter("requests", "x")
    with pytest.raises(ValueError, match="base units"):
        r.histogram("latency_ms", "x")


def test_series_cap_folds_into_other() -> None:
    r = Registry()
    c = r.counter("routes_total", "x", ("route",), max_series=5)
    for i in range(100):
        c.inc((f"/r{i}",))
    assert len(c.items()) == 6 and c.value(("_other",)) == 95
    assert 'bastion_metrics_series_overflow_total{metric="routes_total"} 95.0' in r.expose()


def test_cloudwatch_view() -> None:
    m = GatewayMetrics()
    m.observe_request(route="GET /a", method="GET", status=200, action="ALLOW", duration_s=0.02,
                      integration_s=0.01, counted_rules=["Watch"], cache_hit=True)
    m.observe_request(route="GET /a", method="GET", status=403, action="BLOCK", duration_s=0.001,
                      terminating_rule="SQLi", cache_hit=False)
    m.observe_request(route="GET /a", method="GET", status=502, action="ALLOW", duration_s=0.2)
    cw = m.cloudwatch()
    waf, api = cw["AWS/WAFV2"], cw["AWS/ApiGateway"]
    assert waf["AllowedRequests"] == {"Default_Action": 2, "ALL": 2}
    assert waf["BlockedRequests"] == {"SQLi": 1, "ALL": 1}
    assert waf["CountedRequests"] == {"Watch": 1, "ALL": 1}
    assert (api["Count"], api["4XXError"], api["5XXError"]) == (3, 1, 1)
    assert (api["CacheHitCount"], api["CacheMissCount"]) == (1, 1)
    assert api["Latency"]["SampleCount"] == 3
    assert api["Latency"]["Sum"] == pytest.approx(221.0)
    assert api["IntegrationLatency"]["SampleCount"] == 1


def test_writer_drops_are_exposed(tmp_path: Path) -> None:
    m = GatewayMetrics()
    w = LogWriter(tmp_path, clock=FrozenClock(), max_queue=1, start=False)
    w.submit("waf", {})
    w.submit("waf", {})
    m.attach_writer(w)
    assert 'bastion_log_records_dropped_total{kind="waf"} 1.0' in m.expose()
    _series(m.expose())
    w.close()


def test_helpers() -> None:
    assert status_class(404) == "4xx" and status_class(42) == "other"
    assert method_label("get") == "GET" and method_label("PROPFIND") == "_OTHER"


def test_audit_trail_is_exposed(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from bastion.observe.audit import AuditTrail, Signer, UserIdentity
    clock = FrozenClock(1_767_225_600.0)
    trail = AuditTrail(tmp_path, Signer(ed25519.Ed25519PrivateKey.generate()), clock)
    trail.event("ReloadConfig", UserIdentity(type="AWSService", invoked_by="bastion"))
    clock.advance(3600)
    trail.tick()
    m = GatewayMetrics()
    m.attach_audit(trail)
    text = m.expose()
    assert "bastion_audit_events_total 1.0" in text
    assert "bastion_audit_last_digest_timestamp_seconds 1767229200.0" in text
    _series(text)


def test_alarm_states_are_exposed() -> None:
    from bastion.observe.alarms import Alarm, AlarmEvaluator, MetricStore
    clock = FrozenClock(1_767_225_600.0)
    ev = AlarmEvaluator(MetricStore(clock), clock, [Alarm(
        name="errors", metric_name="5XXError", namespace="AWS/ApiGateway", threshold=1,
        comparison_operator="GreaterThanOrEqualToThreshold", treat_missing_data="notBreaching")])
    m = GatewayMetrics()
    m.attach_alarms(ev)
    assert 'bastion_alarm_state{alarm="errors"} 2.0' in m.expose()
    ev.evaluate()
    assert 'bastion_alarm_state{alarm="errors"} 0.0' in m.expose()
