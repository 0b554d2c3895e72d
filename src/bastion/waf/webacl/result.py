"""What one evaluation decided, in the shape of AWS's WAF log record, and per-rule counters.

``Evaluation`` is a value: the stage turns it into a response, the logging layer into a log line
(``to_log_record``), the metrics layer reads ``RuleCounters``.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bastion.waf.webacl.model import CustomResponse
from bastion.waf.webacl.request import WafRequest

__all__ = ["Evaluation", "RuleCounters"]

MAX_LOG_LABELS = 100


@dataclass(slots=True)
class Evaluation:
    """The decision. ``action`` is ALLOW, BLOCK, CAPTCHA or CHALLENGE (the terminating action).

    ``response`` is set when the client gets something other than the gateway's default 403:
    a CustomResponse, or the CAPTCHA/Challenge interstitial.
    """

    action: str = "ALLOW"
    terminating_rule_id: str = "Default_Action"
    terminating_rule_type: str = "REGULAR"
    terminating_details: list[dict[str, Any]] = field(default_factory=list)
    response: CustomResponse | None = None
    labels: list[str] = field(default_factory=list)
    non_terminating: list[dict[str, Any]] = field(default_factory=list)
    rule_groups: list[dict[str, Any]] = field(default_factory=list)
    rate_based: list[dict[str, Any]] = field(default_factory=list)
    inserted_headers: list[tuple[str, str]] = field(default_factory=list)
    oversize_fields: list[str] = field(default_factory=list)
    captcha_response: dict[str, Any] | None = None
    challenge_response: dict[str, Any] | None = None
    crs_records: list[Any] = field(default_factory=list)   # the CRS group's match records
    request_id: str = ""   # the request's (shown on the CAPTCHA/Challenge interstitial)

    @property
    def blocked(self) -> bool:
        return self.action != "ALLOW"

    def log_fields(self, *, body_size: int, body_limit: int) -> dict[str, Any]:
        """This decision as the keyword arguments of ``bastion.observe.WafLogBuilder.build``
        (the logging layer reads them from ``ex.notes["waf_log"]``; labels come from
        ``ex.labels``)."""
        return {
            "action": self.action,
            "terminating_rule_id": self.terminating_rule_id,
            "terminating_rule_type": self.terminating_rule_type,
            "terminating_match_details": self.terminating_details,
            "rule_groups": self.rule_groups,
            "rate_based_rules": self.rate_based,
            "non_terminating": self.non_terminating,
            "request_headers_inserted": list(self.inserted_headers) or None,
            "response_code_sent": self.response.status if self.response is not None else None,
            "body_inspected": min(body_size, body_limit),
            "oversize_fields": self.oversize_fields,
            "captcha_response": self.captcha_response,
            "challenge_response": self.challenge_response,
        }

    def to_log_record(self, *, web_acl_arn: str, request: WafRequest, timestamp_ms: int,
                      country: str = "-", source: str = "APIGW", source_id: str = "-",
                      body_limit: int = 8192) -> dict[str, Any]:
        """The AWS WAF log record (formatVersion 1) for this decision."""
        rec: dict[str, Any] = {
            "timestamp": timestamp_ms,
            "formatVersion": 1,
            "webaclId": web_acl_arn,
            "terminatingRuleId": self.terminating_rule_id,
            "terminatingRuleType": self.terminating_rule_type,
            "action": self.action,
            "terminatingRuleMatchDetails": self.terminating_details,
            "httpSourceName": source,
            "httpSourceId": source_id,
            "ruleGroupList": self.rule_groups,
            "rateBasedRuleList": self.rate_based,
            "nonTerminatingMatchingRules": self.non_terminating,
            "requestHeadersInserted": (
                [{"name": n, "value": v} for n, v in self.inserted_headers]
                if self.inserted_headers else None
            ),
            "responseCodeSent": self.response.status if self.response is not None else None,
            "httpRequest": {
                "clientIp": request.client_ip,
                "country": country,
                "headers": [{"name": n, "value": v} for n, v in request.headers],
                "uri": request.uri_path,
                "args": request.query,
                "httpVersion": f"HTTP/{request.http_version}",
                "httpMethod": request.method,
                "requestId": request.request_id,
                "scheme": request.scheme,
                "host": request.host,
            },
            "labels": [{"name": n} for n in self.labels[:MAX_LOG_LABELS]],
            "requestBodySize": len(request.body),
            "requestBodySizeInspectedByWAF": min(len(request.body), body_limit),
        }
        if self.oversize_fields:
            rec["oversizeFields"] = ",".join(self.oversize_fields)  # a string in Athena's DDL
        if self.captcha_response is not None:
            rec["captchaResponse"] = self.captcha_response
        if self.challenge_response is not None:
            rec["challengeResponse"] = self.challenge_response
        return rec


_METRIC = {"ALLOW": "AllowedRequests", "BLOCK": "BlockedRequests", "COUNT": "CountedRequests",
           "CAPTCHA": "CaptchaRequests", "CHALLENGE": "ChallengeRequests",
           "PASS": "PassedRequests"}


class RuleCounters:
    """CloudWatch-shaped counters: ``(WebACL, RuleGroup, Rule) -> {metric: n}``.

    ``Rule`` is a VisibilityConfig metric name, ``ALL`` for the Web ACL's totals or
    ``Default_Action``; ``RuleGroup`` is ``""`` outside groups. Thread-safe, read by metrics.
    """

    __slots__ = ("_counts", "_lock")

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, str], Counter[str]] = {}
        self._lock = threading.Lock()

    def add(self, web_acl: str, rule_group: str, rule: str, action: str, n: int = 1) -> None:
        metric = _METRIC.get(action, action)
        with self._lock:
            self._counts.setdefault((web_acl, rule_group, rule), Counter())[metric] += n

    def get(self, web_acl: str, rule_group: str, rule: str, metric: str) -> int:
        with self._lock:
            c = self._counts.get((web_acl, rule_group, rule))
            return c[metric] if c else 0

    def snapshot(self) -> dict[tuple[str, str, str], dict[str, int]]:
        with self._lock:
            return {k: dict(v) for k, v in self._counts.items()}
