"""CloudWatch alarm semantics over Bastion's metrics, evaluated on an injected clock.

An ``Alarm`` mirrors ``PutMetricAlarm``: statistic over ``period`` seconds, ``evaluation_periods``
(N), ``datapoints_to_alarm`` (M of N), ``threshold``, one of the four comparison operators and
``treat_missing_data``. States are ``OK | ALARM | INSUFFICIENT_DATA`` (initially the latter) and
actions fire on transitions only.

Missing data follows the AWS user guide ("How alarm state is evaluated when data is missing"):
the evaluator retrieves an *evaluation range* of N+2 periods. With at least N real datapoints the
most recent N decide. With fewer, every real datapoint in the range is used and only as many
missing ones as needed to reach N are filled: as breaching (``breaching``), not breaching
(``notBreaching``); ``missing`` evaluates the real points alone (ALARM if M breach, OK if any does
not, else INSUFFICIENT_DATA, except that when the newest N periods are all empty the last
datapoints seen are re-evaluated, as CloudWatch does after a metric stops flowing); ``ignore``
is the same but keeps the current state where ``missing`` would not decide on fresh data. Both
documented example tables are test vectors (tests/observe/test_alarms.py).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bastion.clock import Clock
from bastion.errors import ConfigError

__all__ = [
    "COMPARISON_OPERATORS",
    "STATES",
    "STATISTICS",
    "TREAT_MISSING",
    "Alarm",
    "AlarmEvaluator",
    "MetricStore",
    "StateChange",
    "alarm_message",
    "evaluate_datapoints",
]

OK, ALARM, INSUFFICIENT = "OK", "ALARM", "INSUFFICIENT_DATA"
STATES = (OK, ALARM, INSUFFICIENT)
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
TREAT_MISSING = ("missing", "notBreaching", "breaching", "ignore")
COMPARISON_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "GreaterThanThreshold": lambda v, t: v > t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}
_WORDS = {
    "GreaterThanOrEqualToThreshold": "greater than or equal to",
    "GreaterThanThreshold": "greater than",
    "LessThanThreshold": "less than",
    "LessThanOrEqualToThreshold": "less than or equal to",
}
Dims = tuple[tuple[str, str], ...]


class MetricStore:
    """Datapoints aggregated into ``resolution``-second buckets (count, sum, min, max).

    Bounded: buckets older than ``retention`` seconds are pruned (CloudWatch limits an alarm's
    periods x evaluation periods to one day).
    """

    def __init__(self, clock: Clock, *, resolution: int = 10, retention: int = 86400 + 3600,
                 max_series: int = 10_000) -> None:
        self._clock = clock
        self.resolution = resolution
        self._retention = retention
        self._max_series = max_series
        self._data: dict[tuple[str, str, Dims], dict[int, list[float]]] = {}
        self._lock = threading.Lock()
        self._last_prune = 0.0
        self._prev: dict[tuple[str, str, Dims], float] = {}

    def put(self, namespace: str, metric: str, value: float, *,
            dims: Mapping[str, str] | Dims = (), ts: float | None = None) -> None:
        key = (namespace, metric, _dims(dims))
        t = self._clock.time() if ts is None else ts
        b = int(t) // self.resolution * self.resolution
        with self._lock:
            series = self._data.get(key)
            if series is None:
                if len(self._data) >= self._max_series:
                    return
                series = self._data[key] = {}
            agg = series.get(b)
            if agg is None:
                series[b] = [1.0, value, value, value]
            else:
                agg[0] += 1
                agg[1] += value
                agg[2] = min(agg[2], value)
                agg[3] = max(agg[3], value)
            if t - self._last_prune > 600:
                self._prune(t)

    def sample(self, cloudwatch_view: Mapping[str, Any], ts: float | None = None) -> None:
        """Record the deltas of a ``GatewayMetrics.cloudwatch()`` view since the last sample.

        Like AWS, WAF metrics are only reported when nonzero; API Gateway counts always are.
        """
        t = self._clock.time() if ts is None else ts
        waf = cloudwatch_view.get("AWS/WAFV2", {})
        acl = str(waf.get("WebACL", "default"))
        for metric, per_rule in waf.items():
            if not isinstance(per_rule, Mapping):
                continue
            for rule, total in per_rule.items():
                d = self._delta(("AWS/WAFV2", metric, (("Rule", rule), ("WebACL", acl))), total)
                if d:
                    self.put("AWS/WAFV2", metric, d, dims={"WebACL": acl, "Rule": rule}, ts=t)
        api = cloudwatch_view.get("AWS/ApiGateway", {})
        for metric in ("Count", "4XXError", "5XXError", "CacheHitCount", "CacheMissCount"):
            if metric in api:
                self.put("AWS/ApiGateway", metric,
                         self._delta(("AWS/ApiGateway", metric, ()), api[metric]), ts=t)
        for metric in ("Latency", "IntegrationLatency"):
            stats = api.get(metric)
            if isinstance(stats, Mapping) and stats.get("SampleCount"):
                n = self._delta(("AWS/ApiGateway", metric + "#n", ()), stats["SampleCount"])
                s = self._delta(("AWS/ApiGateway", metric + "#s", ()), stats["Sum"])
                if n:
                    self.put("AWS/ApiGateway", metric, s / n, ts=t)

    def _delta(self, key: tuple[str, str, Dims], total: float) -> float:
        prev = self._prev.get(key, 0.0)
        self._prev[key] = float(total)
        return max(0.0, float(total) - prev)

    def statistic(self, namespace: str, metric: str, dims: Mapping[str, str] | Dims,
                  statistic: str, start: float, end: float) -> float | None:
        """The statistic over buckets in ``[start, end)``; None when there is no datapoint."""
        with self._lock:
            series = self._data.get((namespace, metric, _dims(dims)))
            rows = [a for b, a in series.items() if start <= b < end] if series else []
        if not rows:
            return None
        n = sum(r[0] for r in rows)
        total = sum(r[1] for r in rows)
        if statistic == "SampleCount":
            return n
        if statistic == "Sum":
            return total
        if statistic == "Average":
            return total / n
        if statistic == "Minimum":
            return min(r[2] for r in rows)
        if statistic == "Maximum":
            return max(r[3] for r in rows)
        raise ValueError(f"unknown statistic {statistic!r}")

    def _prune(self, now: float) -> None:
        self._last_prune = now
        cutoff = now - self._retention
        for series in self._data.values():
            for b in [b for b in series if b < cutoff]:
                del series[b]


def _dims(dims: Mapping[str, str] | Dims) -> Dims:
    items = dims.items() if isinstance(dims, Mapping) else dims
    return tuple(sorted((str(k), str(v)) for k, v in items))


@dataclass(frozen=True, slots=True)
class Alarm:
    """A metric alarm as ``PutMetricAlarm`` defines it (actions name notification topics)."""

    name: str
    metric_name: str
    namespace: str
    threshold: float
    comparison_operator: str
    evaluation_periods: int = 1
    period: int = 60
    statistic: str = "Sum"
    datapoints_to_alarm: int | None = None
    treat_missing_data: str = "missing"
    dimensions: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    unit: str | None = None
    alarm_actions: tuple[str, ...] = ()
    ok_actions: tuple[str, ...] = ()
    insufficient_data_actions: tuple[str, ...] = ()
    actions_enabled: bool = True

    def __post_init__(self) -> None:
        key = f"alarms.{self.name}"
        if not self.name or not self.name.isascii():
            raise ConfigError("alarm names must be non-empty ASCII", key=key)
        if self.comparison_operator not in COMPARISON_OPERATORS:
            raise ConfigError(f"comparison_operator must be one of "
                              f"{sorted(COMPARISON_OPERATORS)}", key=key)
        if self.treat_missing_data not in TREAT_MISSING:
            raise ConfigError(f"treat_missing_data must be one of {TREAT_MISSING}", key=key)
        if self.statistic not in STATISTICS:
            raise ConfigError(f"statistic must be one of {STATISTICS}", key=key)
        if self.period not in (10, 20, 30) and (self.period <= 0 or self.period % 60):
            raise ConfigError("period must be 10, 20, 30 or a multiple of 60 seconds", key=key)
        if self.evaluation_periods < 1 or not 1 <= self.m <= self.evaluation_periods:
            raise ConfigError("need 1 <= datapoints_to_alarm <= evaluation_periods", key=key)
        if self.period * self.evaluation_periods > 86400:
            raise ConfigError("period x evaluation_periods must not exceed one day", key=key)
        if not math.isfinite(self.threshold):
            raise ConfigError("threshold must be finite", key=key)

    @property
    def m(self) -> int:
        return self.datapoints_to_alarm or self.evaluation_periods

    def breaches(self, value: float) -> bool:
        return COMPARISON_OPERATORS[self.comparison_operator](value, self.threshold)


def evaluate_datapoints(alarm: Alarm, values: Sequence[float | None], current: str) -> str:
    """The new state from the evaluation range (oldest first; None = missing datapoint)."""
    n, m = alarm.evaluation_periods, alarm.m
    real = [v for v in values if v is not None]
    if len(real) >= n:
        recent = real[-n:]
        return ALARM if sum(alarm.breaches(v) for v in recent) >= m else OK
    fill = n - len(real)
    mode = alarm.treat_missing_data
    if mode in ("breaching", "notBreaching"):
        breaching = sum(alarm.breaches(v) for v in real) + (fill if mode == "breaching" else 0)
        return ALARM if breaching >= m else OK
    breaching = sum(alarm.breaches(v) for v in real)
    if breaching >= m:
        return ALARM
    if breaching < len(real):      # a real datapoint within the threshold
        return OK
    if not real:
        return INSUFFICIENT if mode == "missing" else current
    if all(v is None for v in values[-n:]):
        # the metric stopped: CloudWatch re-evaluates the last datapoints it saw
        return ALARM if mode == "missing" else current
    return INSUFFICIENT if mode == "missing" else current


@dataclass(frozen=True, slots=True)
class StateChange:
    alarm: Alarm
    old_state: str
    new_state: str
    reason: str
    timestamp: float
    values: tuple[float | None, ...]

    @property
    def actions(self) -> tuple[str, ...]:
        if not self.alarm.actions_enabled:
            return ()
        return {ALARM: self.alarm.alarm_actions, OK: self.alarm.ok_actions,
                INSUFFICIENT: self.alarm.insufficient_data_actions}[self.new_state]


def _reason(alarm: Alarm, new: str, old: str, values: Sequence[float | None],
            starts: Sequence[float]) -> str:
    if new == INSUFFICIENT:
        return "Insufficient Data: not enough datapoints were received to evaluate the alarm."
    pts = [(v, t) for v, t in zip(values, starts, strict=True) if v is not None]
    pts = pts[-alarm.evaluation_periods:]
    shown = ", ".join(f"{v!r} ({datetime.fromtimestamp(t, UTC):%d/%m/%y %H:%M:%S})"
                      for v, t in reversed(pts))
    verb = "was" if len(pts) == 1 else "were"
    word = _WORDS[alarm.comparison_operator]
    if new == OK:
        word = "not " + word
    need = alarm.m if new == ALARM else 1
    unit = "datapoint" if need == 1 else "datapoints"
    return (f"Threshold Crossed: {len(pts)} out of the last {alarm.evaluation_periods} "
            f"datapoints [{shown}] {verb} {word} the threshold ({float(alarm.threshold)!r}) "
            f"(minimum {need} {unit} for {old} -> {new} transition).")


class AlarmEvaluator:
    """Evaluates alarms over a ``MetricStore`` whenever ``evaluate()`` is called."""

    def __init__(self, store: MetricStore, clock: Clock, alarms: Sequence[Alarm], *,
                 on_change: Callable[[StateChange], None] | None = None) -> None:
        names = [a.name for a in alarms]
        if len(set(names)) != len(names):
            raise ConfigError("alarm names must be unique", key="alarms")
        self._store, self._clock = store, clock
        self.alarms = list(alarms)
        self.states: dict[str, str] = {a.name: INSUFFICIENT for a in alarms}
        self._on_change = on_change

    def evaluate(self) -> list[StateChange]:
        now = self._clock.time()
        changes = []
        for alarm in self.alarms:
            p = alarm.period
            end = int(now) // p * p
            span = alarm.evaluation_periods + 2
            starts = [end - (span - i) * p for i in range(span)]
            values = [self._store.statistic(alarm.namespace, alarm.metric_name,
                                            alarm.dimensions, alarm.statistic, s, s + p)
                      for s in starts]
            old = self.states[alarm.name]
            new = evaluate_datapoints(alarm, values, old)
            if new != old:
                self.states[alarm.name] = new
                change = StateChange(alarm, old, new, _reason(alarm, new, old, values, starts),
                                     now, tuple(values))
                changes.append(change)
                if self._on_change is not None:
                    self._on_change(change)
        return changes


def alarm_message(change: StateChange, *, account_id: str = "000000000000",
                  region: str = "local") -> dict[str, Any]:
    """The CloudWatch alarm notification body SNS delivers (field for field)."""
    a = change.alarm
    t = datetime.fromtimestamp(change.timestamp, UTC)
    return {
        "AlarmName": a.name,
        "AlarmDescription": a.description,
        "AWSAccountId": account_id,
        "NewStateValue": change.new_state,
        "NewStateReason": change.reason,
        "StateChangeTime": t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}+0000",
        "Region": region,
        "AlarmArn": f"arn:aws:cloudwatch:{region}:{account_id}:alarm:{a.name}",
        "OldStateValue": change.old_state,
        "Trigger": {
            "MetricName": a.metric_name,
            "Namespace": a.namespace,
            "StatisticType": "Statistic",
            "Statistic": a.statistic.upper(),
            "Unit": a.unit,
            "Dimensions": [{"value": v, "name": k} for k, v in sorted(a.dimensions.items())],
            "Period": a.period,
            "EvaluationPeriods": a.evaluation_periods,
            "DatapointsToAlarm": a.m,
            "ComparisonOperator": a.comparison_operator,
            "Threshold": float(a.threshold),
            "TreatMissingData": f"- TreatMissingData:                    {a.treat_missing_data}",
            "EvaluateLowSampleCountPercentile": "",
        },
    }
