"""Observability and audit: AWS-schema logs, metrics, the signed audit trail, alarms.

The LOGGING phase feeds these with plain values mapped from the Exchange:

* ``WafLogBuilder.build(...)`` -> an AWS WAF log record (plus the ``bastion`` object), redacted;
* ``compile_template("JSON").format(ctx)`` -> an API Gateway access-log line;
* ``LogWriter.submit(kind, record)`` -> non-blocking, date-partitioned JSON lines;
* ``GatewayMetrics.observe_request(...)`` -> Prometheus ``/metrics`` and the CloudWatch view;
* ``AuditTrail.event(...)`` -> CloudTrail records with signed hourly digests;
* ``AlarmEvaluator`` + ``Notifier`` -> CloudWatch-style alarms fanned out to sinks.

SQL over the logs lives in ``bastion.observe.analytics`` (needs the optional ``duckdb``) and is
not imported here.
"""

from __future__ import annotations

from bastion.observe.accesslog import PRESETS, AccessLogFormatter, compile_template
from bastion.observe.alarms import Alarm, AlarmEvaluator, MetricStore, StateChange, alarm_message
from bastion.observe.audit import AuditTrail, UserIdentity
from bastion.observe.audit import verify as verify_audit
from bastion.observe.metrics import GatewayMetrics, Registry
from bastion.observe.notify import EmailSink, Notifier, SlackSink, WebhookSink, verify_webhook
from bastion.observe.redact import Redactor
from bastion.observe.waflog import (
    HttpRequestInfo,
    WafLogBuilder,
    match_detail,
    parse_waf_record,
    rate_based_entry,
)
from bastion.observe.writer import LogWriter, WriterStats

__all__ = [
    "PRESETS",
    "AccessLogFormatter",
    "Alarm",
    "AlarmEvaluator",
    "AuditTrail",
    "EmailSink",
    "GatewayMetrics",
    "HttpRequestInfo",
    "LogWriter",
    "MetricStore",
    "Notifier",
    "Redactor",
    "Registry",
    "SlackSink",
    "StateChange",
    "UserIdentity",
    "WafLogBuilder",
    "WebhookSink",
    "WriterStats",
    "alarm_message",
    "compile_template",
    "match_detail",
    "parse_waf_record",
    "rate_based_entry",
    "verify_audit",
    "verify_webhook",
]
