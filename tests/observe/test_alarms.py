"""Alarm semantics: AWS's documented missing-data tables x 4 operators, plus M-of-N cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bastion.clock import FrozenClock
from bastion.errors import ConfigError
from bastion.observe.alarms import (
    COMPARISON_OPERATORS,
    TREAT_MISSING,
    Alarm,
    AlarmEvaluator,
    MetricStore,
    StateChange,
    alarm_message,
    evaluate_datapoints,
)
from bastion.observe.metrics import GatewayMetrics

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "alarms"
RETAIN = "retain"
COLS = ("missing", "ignore", "breaching", "notBreaching")
INS, A, OK_ = "INSUFFICIENT_DATA", "ALARM", "OK"

# (M, N, datapoints oldest->newest, expected per MISSING / IGNORE / BREACHING / NOT BREACHING)
# transcribed from the CloudWatch user guide tables (evaluation range of N+2 = 5 datapoints)
DOC_TABLE = [
    (3, 3, "0-X-X", (OK_, OK_, OK_, OK_)),
    (3, 3, "0----", (OK_, OK_, OK_, OK_)),
    (3, 3, "-----", (INS, RETAIN, A, OK_)),
    (3, 3, "0XX-X", (A, A, A, A)),
    (3, 3, "----X", (INS, RETAIN, A, OK_)),
    (3, 3, "X----", (A, RETAIN, A, OK_)),
    (2, 3, "0-X-X", (A, A, A, A)),
    (2, 3, "00X0X", (A, A, A, A)),
    (2, 3, "0-X--", (OK_, OK_, A, OK_)),
    (2, 3, "----0", (OK_, OK_, A, OK_)),
    (2, 3, "----X", (INS, RETAIN, A, OK_)),
]
# further M-of-N cases, worked by hand from the same rules
EXTRA_TABLE = [
    (1, 1, "---", (INS, RETAIN, A, OK_)),
    (1, 1, "--X", (A, A, A, A)),
    (1, 1, "X0-", (OK_, OK_, OK_, OK_)),
    (1, 1, "X--", (A, A, A, A)),          # one real point >= N: it decides alone
    (1, 1, "0--", (OK_, OK_, OK_, OK_)),
    (4, 5, "00XXX00", (OK_, OK_, OK_, OK_)),
    (4, 5, "0XXXXX0", (A, A, A, A)),
    (4, 5, "XXX----", (INS, RETAIN, A, OK_)),  # newest 5 not all empty: undecided
    (4, 5, "XXXX---", (A, A, A, A)),       # 4 real breaching >= M
    (2, 3, "X0---", (OK_, OK_, A, OK_)),
    (4, 5, "X-X-X--", (INS, RETAIN, A, OK_)),
    (2, 2, "X-X-", (A, A, A, A)),
    (2, 2, "----", (INS, RETAIN, A, OK_)),
]

THRESHOLD = 10.0
# per operator: a breaching value, a non-breaching value (both exercising the boundary)
VALUES = {
    "GreaterThanOrEqualToThreshold": (10.0, 9.999),
    "GreaterThanThreshold": (10.001, 10.0),
    "LessThanThreshold": (9.999, 10.0),
    "LessThanOrEqualToThreshold": (10.0, 10.001),
}
CASES = [
    pytest.param(op, mode, m, n, pts, row[COLS.index(mode)],
                 id=f"{op}-{mode}-{m}of{n}-{pts}")
    for op in COMPARISON_OPERATORS for mode in TREAT_MISSING
    for m, n, pts, row in DOC_TABLE + EXTRA_TABLE
]


@pytest.mark.parametrize("op, mode, m, n, pts, expected", CASES)
def test_state_table(op: str, mode: str, m: int, n: int, pts: str, expected: str) -> None:
    alarm = Alarm(name="a", metric_name="BlockedRequests", namespace="AWS/WAFV2",
                  threshold=THRESHOLD, comparison_operator=op, evaluation_periods=n,
                  datapoints_to_alarm=m, treat_missing_data=mode)
    hit, miss = VALUES[op]
    values = [None if c == "-" else hit if c == "X" else miss for c in pts]
    for current in ("OK", "ALARM", "INSUFFICIENT_DATA"):
        want = current if expected == RETAIN else expected
        assert evaluate_datapoints(alarm, values, current) == want


def test_table_size() -> None:
    assert len(CASES) >= 4 * 4 * 10
    assert {c.values[0] for c in CASES} == set(COMPARISON_OPERATORS)


def _alarm(**kw: object) -> Alarm:
    base: dict[str, object] = dict(
        name="blocked-spike", metric_name="BlockedRequests", namespace="AWS/WAFV2",
        dimensions={"WebACL": "default", "Rule": "ALL"}, threshold=5,
        comparison_operator="GreaterThanThreshold", period=60, evaluation_periods=2,
        datapoints_to_alarm=2, alarm_actions=("ops",), ok_actions=("ops",))
    base.update(kw)
    return Alarm(**base)  # type: ignore[arg-type]


def test_evaluator_over_metrics_on_frozen_clock() -> None:
    clock = FrozenClock(1_767_225_600.0)
    gm = GatewayMetrics()
    store = MetricStore(clock)
    changes: list[StateChange] = []
    ev = AlarmEvaluator(store, clock, [_alarm()], on_change=changes.append)
    for minute in range(6):
        blocked = 10 if minute in (2, 3) else 1
        for _ in range(blocked):
            gm.observe_request(route="GET /", method="GET", status=403, action="BLOCK",
                               duration_s=0.001, terminating_rule="SQLi")
        clock.advance(59)
        store.sample(gm.cloudwatch())
        clock.advance(1)
        ev.evaluate()
    assert [(c.old_state, c.new_state) for c in changes] == [
        ("INSUFFICIENT_DATA", "OK"), ("OK", "ALARM"), ("ALARM", "OK")]
    assert "2 out of the last 2 datapoints [10.0" in changes[1].reason
    assert changes[1].reason.endswith("(minimum 2 datapoints for OK -> ALARM transition).")


def test_message_matches_aws_fixture_fields() -> None:
    fixture = json.loads((VECTORS / "cloudwatch-alarm-sns-payload-single-metric.json")
                         .read_text())["Records"][0]["Sns"]["Message"]
    want = json.loads(fixture)
    alarm = Alarm(name="EXAMPLE", description="EXAMPLE", metric_name="NetworkOut",
                  namespace="AWS/EC2", statistic="Average", unit="Bytes",
                  dimensions={"InstanceId": "TestInstance"}, threshold=0.0,
                  comparison_operator="GreaterThanThreshold")
    change = StateChange(alarm, "INSUFFICIENT_DATA", "ALARM", want["NewStateReason"],
                         1433353407.123, (1234.0,))
    got = alarm_message(change, account_id="123456789012", region="EXAMPLE")
    assert set(got) == set(want)
    assert set(got["Trigger"]) - {"DatapointsToAlarm"} == set(want["Trigger"])
    for key in ("NewStateValue", "OldStateValue", "StateChangeTime", "AWSAccountId"):
        assert got[key] == want[key]
    for key in ("MetricName", "Namespace", "StatisticType", "Statistic", "Unit", "Dimensions",
                "Period", "EvaluationPeriods", "ComparisonOperator", "Threshold",
                "TreatMissingData"):
        assert got["Trigger"][key] == want["Trigger"][key], key


def test_reason_text_like_cloudwatch() -> None:
    from bastion.observe.alarms import _reason
    alarm = Alarm(name="x", metric_name="m", namespace="n", threshold=0.0,
                  comparison_operator="GreaterThanThreshold")
    text = _reason(alarm, "ALARM", "OK", [None, None, 1234.0], [0, 60, 1433353380.0])
    assert text == ("Threshold Crossed: 1 out of the last 1 datapoints [1234.0 (03/06/15 "
                    "17:43:00)] was greater than the threshold (0.0) (minimum 1 datapoint for "
                    "OK -> ALARM transition).")


@pytest.mark.parametrize("kw, match", [
    ({"comparison_operator": "Bigger"}, "comparison_operator"),
    ({"treat_missing_data": "maybe"}, "treat_missing_data"),
    ({"period": 45}, "period"),
    ({"datapoints_to_alarm": 3}, "datapoints_to_alarm"),
    ({"statistic": "p99"}, "statistic"),
    ({"period": 3600, "evaluation_periods": 25, "datapoints_to_alarm": 1}, "one day"),
])
def test_bad_alarm_config(kw: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        _alarm(**kw)
