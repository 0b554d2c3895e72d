"""WAF log records in the AWS WAF log schema, plus Bastion's ``bastion`` extension object.

Field names and enums are exactly AWS's (logging-fields.html) so tooling written for AWS WAF logs
(the Athena ``waf_logs`` DDL, Elastic ``aws.waf``, Sentinel ``AWSWAF``) reads ours. Gateway-only
facts live in one extra top-level object, ``bastion``::

    {"route": "GET /pets/{petId}", "status": 200, "latencyMs": {"total", "waf", "auth",
     "integration"}, "principal": "...", "authorizer": {...}, "reason": "..."}

``WafLogBuilder`` holds what is fixed per web ACL (ids, redaction) and ``build`` turns one request's
facts into a record; every header and query value passes through the ``Redactor`` first.
``parse_waf_record`` is the reader: it accepts AWS's own records (the docs' samples included) and
ours, normalising the known type drifts (``evaluationWindowSec`` as string or int,
``responseCodeSent`` as string or int).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from bastion.observe.redact import Redactor

__all__ = [
    "ACTIONS",
    "MAX_LABELS",
    "TERMINATING_RULE_TYPES",
    "HttpRequestInfo",
    "WafLogBuilder",
    "match_detail",
    "parse_waf_record",
    "rate_based_entry",
]

ACTIONS = frozenset({"ALLOW", "BLOCK", "CAPTCHA", "CHALLENGE"})
NON_TERMINATING_ACTIONS = frozenset({"COUNT", "CAPTCHA", "CHALLENGE", "EXCLUDED_AS_COUNT"})
TERMINATING_RULE_TYPES = frozenset({"REGULAR", "RATE_BASED", "GROUP", "MANAGED_RULE_GROUP"})
OVERSIZE_FIELDS = frozenset({"REQUEST_BODY", "REQUEST_JSON_BODY", "REQUEST_HEADERS",
                             "REQUEST_COOKIES"})
MAX_LABELS = 100


@dataclass(frozen=True, slots=True)
class HttpRequestInfo:
    """The request as WAF saw it; headers keep their order and original case."""

    client_ip: str
    method: str
    uri: str
    args: str = ""
    headers: Sequence[tuple[str, str]] = ()
    http_version: str = "HTTP/1.1"
    request_id: str = ""
    country: str = "-"
    scheme: str | None = None
    host: str | None = None
    fragment: str | None = None


def match_detail(condition_type: str, location: str, matched_data: Sequence[str],
                 sensitivity_level: str | None = None) -> dict[str, Any]:
    """One ``ruleMatchDetails`` entry (populated by AWS only for SQLi/XSS statements)."""
    d: dict[str, Any] = {"conditionType": condition_type, "location": location,
                         "matchedData": list(matched_data)}
    if sensitivity_level is not None:
        d["sensitivityLevel"] = sensitivity_level
    return d


def rate_based_entry(rule_name: str, limit_key: str, max_rate: int, window_sec: int, *,
                     rule_id: str | None = None,
                     custom_values: Sequence[Mapping[str, str]] = ()) -> dict[str, Any]:
    """One ``rateBasedRuleList`` entry; ``limitKey`` is IP, FORWARDED_IP, CUSTOMKEYS or CONSTANT."""
    d: dict[str, Any] = {"rateBasedRuleName": rule_name, "limitKey": limit_key,
                         "maxRateAllowed": max_rate, "evaluationWindowSec": str(window_sec)}
    if rule_id is not None:
        d["rateBasedRuleId"] = rule_id
    if custom_values:
        d["customValues"] = [dict(c) for c in custom_values]
    return d


@dataclass(frozen=True, slots=True)
class WafLogBuilder:
    """Per-web-ACL constants plus the redactor; ``build`` makes one record per request."""

    webacl_id: str
    http_source_name: str = "APIGW"
    http_source_id: str = "-"
    redactor: Redactor = field(default_factory=Redactor)

    def build(
        self,
        *,
        timestamp_ms: int,
        request: HttpRequestInfo,
        action: str = "ALLOW",
        terminating_rule_id: str = "Default_Action",
        terminating_rule_type: str = "REGULAR",
        terminating_match_details: Sequence[Mapping[str, Any]] = (),
        rule_groups: Sequence[Mapping[str, Any]] = (),
        rate_based_rules: Sequence[Mapping[str, Any]] = (),
        non_terminating: Sequence[Mapping[str, Any]] = (),
        labels: Iterable[str] = (),
        request_headers_inserted: Sequence[tuple[str, str]] | None = None,
        response_code_sent: int | None = None,
        body_size: int | None = None,
        body_inspected: int | None = None,
        oversize_fields: Sequence[str] = (),
        captcha_response: Mapping[str, Any] | None = None,
        challenge_response: Mapping[str, Any] | None = None,
        bastion: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        if action not in ACTIONS:
            raise ValueError(f"unknown WAF action {action!r}")
        if terminating_rule_type not in TERMINATING_RULE_TYPES:
            raise ValueError(f"unknown terminatingRuleType {terminating_rule_type!r}")
        for f in oversize_fields:
            if f not in OVERSIZE_FIELDS:
                raise ValueError(f"unknown oversize field {f!r}")
        red = self.redactor
        secrets: list[str] = []
        headers = red.headers(request.headers, secrets)
        args = red.query(request.args, secrets)
        http: dict[str, Any] = {
            "clientIp": request.client_ip,
            "country": request.country or "-",
            "headers": headers,
            "uri": "REDACTED" if red.uri_path else request.uri,
            "args": args,
            "httpVersion": request.http_version,
            "httpMethod": "REDACTED" if red.method else request.method,
            "requestId": request.request_id,
        }
        for key, value in (("scheme", request.scheme), ("host", request.host),
                           ("fragment", request.fragment)):
            if value is not None:
                http[key] = value
        rec: dict[str, Any] = {
            "timestamp": int(timestamp_ms),
            "formatVersion": 1,
            "webaclId": self.webacl_id,
            "terminatingRuleId": terminating_rule_id,
            "terminatingRuleType": terminating_rule_type,
            "action": action,
            "terminatingRuleMatchDetails": _details(terminating_match_details, secrets),
            "httpSourceName": self.http_source_name,
            "httpSourceId": self.http_source_id,
            "ruleGroupList": [_scrub_group(g, secrets) for g in rule_groups],
            "rateBasedRuleList": [_rate_based(r, red) for r in rate_based_rules],
            "nonTerminatingMatchingRules": [_rule(r, secrets) for r in non_terminating],
            "requestHeadersInserted": (None if request_headers_inserted is None else
                                       red.headers(request_headers_inserted)),
            "responseCodeSent": response_code_sent,
            "httpRequest": http,
            "labels": [{"name": n} for n in _first(labels, MAX_LABELS)],
        }
        if body_size is not None:
            rec["requestBodySize"] = int(body_size)
            rec["requestBodySizeInspectedByWAF"] = int(
                body_size if body_inspected is None else body_inspected)
        if oversize_fields:
            # a string column in the Athena DDL: one value, or several comma-joined
            rec["oversizeFields"] = ",".join(oversize_fields)
        if captcha_response is not None:
            rec["captchaResponse"] = dict(captcha_response)
        if challenge_response is not None:
            rec["challengeResponse"] = dict(challenge_response)
        if bastion is not None:
            rec["bastion"] = _bastion(bastion, red)
        return rec


def _first(items: Iterable[str], n: int) -> list[str]:
    out: list[str] = []
    for item in items:
        if len(out) >= n:
            break
        out.append(item)
    return out


def _details(details: Sequence[Mapping[str, Any]] | None,
             secrets: list[str]) -> list[dict[str, Any]]:
    out = []
    for d in details or ():
        e = dict(d)
        if "matchedData" in e and e["matchedData"] is not None:
            e["matchedData"] = Redactor.scrub(e["matchedData"], secrets)
        out.append(e)
    return out


def _rule(rule: Mapping[str, Any], secrets: list[str]) -> dict[str, Any]:
    r = dict(rule)
    if r.get("ruleMatchDetails") is not None:
        r["ruleMatchDetails"] = _details(r["ruleMatchDetails"], secrets)
    return r


def _scrub_group(group: Mapping[str, Any], secrets: list[str]) -> dict[str, Any]:
    g = dict(group)
    if isinstance(g.get("terminatingRule"), Mapping):
        g["terminatingRule"] = _rule(g["terminatingRule"], secrets)
    if g.get("nonTerminatingMatchingRules"):
        g["nonTerminatingMatchingRules"] = [_rule(r, secrets)
                                            for r in g["nonTerminatingMatchingRules"]]
    return g


def _rate_based(entry: Mapping[str, Any], red: Redactor) -> dict[str, Any]:
    e = dict(entry)
    if e.get("customValues"):
        e["customValues"] = [
            {**c, "value": "REDACTED"} if c.get("key") == "HEADER" and
            red.is_secret_header(str(c.get("name", ""))) else dict(c)
            for c in e["customValues"]]
    return e


def _bastion(ext: Mapping[str, Any], red: Redactor) -> dict[str, Any]:
    out = dict(ext)
    auth = out.get("authorizer")
    if isinstance(auth, Mapping):
        out["authorizer"] = red.mapping(auth)
    return out


def parse_waf_record(data: str | bytes | Mapping[str, Any]) -> dict[str, Any]:
    """Read one WAF log record (AWS's or ours), check the required shape, normalise types.

    Raises ``ValueError`` naming the first problem.
    """
    rec = dict(orjson.loads(data) if isinstance(data, str | bytes) else data)
    for key in ("timestamp", "formatVersion", "webaclId", "terminatingRuleId",
                "terminatingRuleType", "action", "httpRequest"):
        if key not in rec:
            raise ValueError(f"WAF log record lacks {key!r}")
    rec["timestamp"] = _int(rec["timestamp"], "timestamp")
    rec["formatVersion"] = _int(rec["formatVersion"], "formatVersion")
    if rec["action"] not in ACTIONS:
        raise ValueError(f"unknown action {rec['action']!r}")
    if rec["terminatingRuleType"] not in TERMINATING_RULE_TYPES:
        raise ValueError(f"unknown terminatingRuleType {rec['terminatingRuleType']!r}")
    http = rec["httpRequest"]
    if not isinstance(http, Mapping):
        raise ValueError("httpRequest must be an object")
    for key in ("clientIp", "uri", "httpMethod"):
        if key not in http:
            raise ValueError(f"httpRequest lacks {key!r}")
    for key in ("ruleGroupList", "rateBasedRuleList", "nonTerminatingMatchingRules",
                "terminatingRuleMatchDetails", "labels"):
        value = rec.get(key)
        if value is None:
            rec[key] = []
        elif not isinstance(value, list):
            raise ValueError(f"{key} must be a list")
    rec["rateBasedRuleList"] = [
        {**r, "evaluationWindowSec": _int(r["evaluationWindowSec"], "evaluationWindowSec")}
        if isinstance(r, Mapping) and r.get("evaluationWindowSec") is not None else r
        for r in rec["rateBasedRuleList"]]
    if rec.get("responseCodeSent") is not None:
        rec["responseCodeSent"] = _int(rec["responseCodeSent"], "responseCodeSent")
    return rec


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    raise ValueError(f"{name} must be an integer, got {value!r}")
