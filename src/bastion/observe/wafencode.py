"""WAF log lines, fast: the bytes of ``orjson.dumps(WafLogBuilder.build(...))`` at a third the cost.

The logging writer thread turns one request into one WAF line. ``WafLogBuilder.build`` is the
reference (it validates everything and handles every field); ``WafLineEncoder.encode`` produces
byte-identical output for the common shape (no rule-match details, rule groups, rate-based
entries, COUNT matches or CAPTCHA/challenge data: an allowed request, or a block without match
details) and falls back to ``build`` for anything else. It is cheaper because:

* the redacted ``headers`` list is spliced in as pre-serialised JSON (``orjson.Fragment``), each
  ``{"name","value"}`` object cached per (name, value) pair since clients repeat their headers;
  secret headers are never cached under their value (only the redacted form under the name);
* the record is one dict literal with the constants of the web ACL in place, serialised once;
* no per-record validation beyond two set lookups (action and rule type; anything unknown goes
  to ``build``, which raises as before);
* non-terminating matches and rule groups without match details (COUNT rules, CRS scores
  below the threshold, a CRS block) are serialised as given, as ``build`` copies them.

``tests/observe/test_wafencode.py`` checks the equality against ``build`` over generated inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from bastion.observe.redact import REDACTED, Redactor
from bastion.observe.waflog import (
    ACTIONS,
    MAX_LABELS,
    TERMINATING_RULE_TYPES,
    HttpRequestInfo,
    WafLogBuilder,
)

__all__ = ["BastionFacts", "WafLineEncoder", "bastion_object"]

# route, status, total/waf/auth/integration seconds, principal, authorizer, reason,
# responseType, trace as (stage, event) pairs
BastionFacts = tuple[str, int, float, float, float, float, str | None, Any, str | None,
                     str | None, Sequence[tuple[str, str]]]


def bastion_object(route: str, status: int, total_s: float, waf_s: float, auth_s: float,
                   integration_s: float, principal: str | None, authorizer: Any,
                   reason: str | None, response_type: str | None,
                   trace: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The ``bastion`` extension object of a WAF record (the builder redacts ``authorizer``)."""
    return {
        "route": route, "status": status,
        "latencyMs": {"total": round(total_s * 1000, 3), "waf": round(waf_s * 1000, 3),
                      "auth": round(auth_s * 1000, 3),
                      "integration": round(integration_s * 1000, 3)},
        "principal": principal,
        "authorizer": authorizer,
        "reason": reason,
        "responseType": response_type,
        "trace": [{"stage": st, "event": ev} for st, ev in trace],
    }

# WafLogBuilder.build keyword arguments the fast path handles; the rest must be empty or None
_SIMPLE = frozenset({"action", "terminating_rule_id", "terminating_rule_type",
                     "response_code_sent", "body_inspected"})
# ... and these only when they would add nothing to the record (as ``build`` treats them)
_NONE_OR_EMPTY = frozenset({"terminating_match_details"})
_EMPTY = frozenset({"rate_based_rules", "oversize_fields"})
_NONE = frozenset({"request_headers_inserted", "captcha_response", "challenge_response"})


def _plain(key: str, value: Any) -> bool:
    if key in _SIMPLE:
        return True
    if key in _NONE:
        return value is None
    if key in _EMPTY:
        return value is not None and not value
    return key in _NONE_OR_EMPTY and not value


def _count_only(rules: Any) -> bool:
    """Non-terminating matches ``build`` would copy unchanged: plain dicts with no match
    details (details carry matched data, which ``build`` scrubs of secrets)."""
    return type(rules) in (list, tuple) and all(
        type(r) is dict and not r.get("ruleMatchDetails") for r in rules)


def _plain_groups(groups: Any) -> bool:
    """Rule groups ``build`` would copy unchanged: plain dicts whose terminating and
    non-terminating rules carry no match details (the CRS stage's block entry)."""
    if type(groups) not in (list, tuple):
        return False
    for g in groups:
        if type(g) is not dict:
            return False
        rule = g.get("terminatingRule")
        if rule is not None and (type(rule) is not dict or rule.get("ruleMatchDetails")):
            return False
        if not _count_only(g.get("nonTerminatingMatchingRules") or ()):
            return False
    return True
_OPT = orjson.OPT_APPEND_NEWLINE
dumps = orjson.dumps


def _text(value: str | bytes) -> str:
    return value if type(value) is str else value.decode("latin-1")  # type: ignore[union-attr]


class WafLineEncoder:
    """One JSON line per request, equal to ``orjson.dumps(builder.build(...)) + b"\\n"``.

    Not thread-safe (its caches are plain dicts): one encoder per writer thread.
    """

    __slots__ = ("_allow_mid", "_builder", "_cache_max", "_limit", "_mids", "_pairs", "_queries",
                 "_red", "_redacted", "_secret", "_small")

    def __init__(self, builder: WafLogBuilder, *, cache_max: int = 4096) -> None:
        self._builder = builder
        self._red = builder.redactor
        self._secret = self._red.secret_headers
        self._limit = self._red.max_value_length
        self._pairs: dict[tuple[Any, Any, Any], bytes] = {}
        self._redacted: dict[str, bytes] = {}
        self._small: dict[Any, bytes] = {}   # JSON of methods, versions, routes
        # the record's fixed middle per (rule id, rule type, action, response code)
        self._mids: dict[tuple[Any, ...], tuple[bytes, bytes, bytes]] = {}
        self._queries: dict[str, bytes] = {}
        self._cache_max = cache_max
        # the defaults of an allowed request with no WAF details, serialised once
        self._allow_mid = self._mid("Default_Action", "REGULAR", "ALLOW", None)

    def _headers(self, triples: Sequence[tuple[Any, Any, Any]]) -> bytes:
        pairs = self._pairs
        frags = []
        for triple in triples:
            frag = pairs.get(triple)
            if frag is None:
                _, sent, value = triple
                name = _text(sent)
                if name.lower() in self._secret:
                    frag = self._redacted.get(name)
                    if frag is None:
                        frag = orjson.dumps({"name": name, "value": REDACTED})
                        if len(self._redacted) < self._cache_max:
                            self._redacted[name] = frag
                else:
                    text = _text(value)
                    if len(text) > self._limit:
                        text = text[:self._limit] + "..."
                    frag = orjson.dumps({"name": name, "value": text})
                    if len(pairs) >= self._cache_max:
                        pairs.clear()
                    pairs[triple] = frag
            frags.append(frag)
        return b"[" + b",".join(frags) + b"]"

    def encode(self, timestamp_ms: int, client_ip: str, method: str, uri: str, args: str,
               headers: Sequence[tuple[Any, Any, Any]], http_version: str, request_id: str,
               scheme: str | None, host: str | None, fields: Mapping[str, Any],
               labels: Sequence[str], body_size: int, bastion: BastionFacts) -> bytes:
        """The line for ``builder.build(timestamp_ms=..., request=HttpRequestInfo(...),
        labels=..., body_size=..., bastion=bastion_object(*bastion), **fields)``; raises what
        ``build`` raises.

        ``headers`` are ``(lower-case name, name as sent, value)`` triples as
        ``Headers.raw_pairs()`` gives them (bytes, decoded as latin-1 like ``Headers.items()``;
        str is accepted too). Positional, and no ``HttpRequestInfo`` unless the slow path needs
        one: both cost.
        """
        small = self._small
        status = bastion[1]
        if not fields and type(status) is int:   # allowed, no WAF details: the usual request
            mid, groups, counted = self._allow_mid, b"[]", b"[]"
            inspected = None
        else:
            plan = self._plan(fields, status)
            if plan is None:
                return self._slow(timestamp_ms, client_ip, method, uri, args, headers,
                                  http_version, request_id, scheme, host, fields, labels,
                                  body_size, bastion)
            mid, inspected, groups, counted = plan
        red = self._red
        version = small.get(http_version)
        if version is None:
            version = self._remember(http_version, orjson.dumps(http_version))
        verb = b'"REDACTED"' if red.method else small.get(method)
        if verb is None:
            verb = self._remember(method, orjson.dumps(method))
        tail = small.get((scheme, host))
        if tail is None:
            extra = {k: v for k, v in (("scheme", scheme), ("host", host)) if v is not None}
            tail = self._remember((scheme, host), b"," + orjson.dumps(extra)[1:-1] if extra
                                  else b"")
        route = small.get(bastion[0])
        if route is None:
            route = self._remember(bastion[0], orjson.dumps(bastion[0]))
        return _LINE % (
            int(timestamp_ms), mid[0], groups, mid[1], counted, mid[2], dumps(client_ip),
            self._headers(headers),
            b'"REDACTED"' if red.uri_path else dumps(uri), self._query(args), version, verb,
            dumps(request_id), tail,
            dumps([{"name": n} for n in labels[:MAX_LABELS]]) if labels else b"[]",
            int(body_size), int(body_size if inspected is None else inspected),
            route, status, self._latency(bastion), self._rest(bastion))

    @property
    def redactor(self) -> Redactor:
        return self._red

    def allow_prefix(self) -> bytes:
        """The line of an allowed request with no WAF details from after the timestamp to the
        client address's value (for the C renderer)."""
        mid = self._allow_mid
        return mid[0] + b"[]" + mid[1] + b"[]" + mid[2] + b',"httpRequest":{"clientIp":'

    def plan(self, fields: Mapping[str, Any],
             status: Any) -> tuple[tuple[bytes, bytes, bytes], Any, bytes, bytes] | None:
        """``_plan`` for the C renderer: the parts of a line with WAF fields, or None."""
        return self._plan(fields, status)

    def _plan(self, fields: Mapping[str, Any],
              status: Any) -> tuple[tuple[bytes, bytes, bytes], Any, bytes, bytes] | None:
        """The record's middle parts, ``body_inspected`` and the JSON of the rule groups and
        of the non-terminating matches from ``fields``, or None when the fast path does not
        cover them (``build`` must decide)."""
        groups = counted = b"[]"
        for key, value in fields.items():
            if key in _SIMPLE or _plain(key, value):
                continue
            if key == "non_terminating" and _count_only(value):
                counted = dumps(value) if value else counted
            elif key == "rule_groups" and _plain_groups(value):
                groups = dumps(value) if value else groups
            else:
                return None
        action = fields.get("action", "ALLOW")
        rule_id = fields.get("terminating_rule_id", "Default_Action")
        rule_type = fields.get("terminating_rule_type", "REGULAR")
        code_sent = fields.get("response_code_sent")
        inspected = fields.get("body_inspected")
        if action not in ACTIONS or rule_type not in TERMINATING_RULE_TYPES:
            return None
        if type(rule_id) is not str or not (code_sent is None or type(code_sent) is int) \
                or type(status) is not int:
            return None
        parts = (rule_id, rule_type, action, code_sent)
        mid = self._mids.get(parts)
        if mid is None:
            mid = self._mid(rule_id, rule_type, action, code_sent)
            if len(self._mids) >= self._cache_max:
                self._mids.clear()
            self._mids[parts] = mid
        return mid, inspected, groups, counted

    def _query(self, args: str) -> bytes:
        """JSON of the redacted query string; clean ones (nothing redacted, so no secret in
        the key) are remembered: clients repeat their query strings too."""
        line = self._queries.get(args)
        if line is None:
            redacted = self._red.query(args)
            line = dumps(redacted)
            if redacted is args:
                if len(self._queries) >= self._cache_max:
                    self._queries.clear()
                self._queries[args] = line
        return line

    def _latency(self, facts: BastionFacts) -> bytes:
        _, _, total, waf, auth, integration = facts[:6]
        # round() with digits is slow (it goes through decimal strings); 0.0 stays 0.0
        return dumps({"total": round(total * 1000, 3) if total else total * 1000,
                      "waf": round(waf * 1000, 3) if waf else waf * 1000,
                      "auth": round(auth * 1000, 3) if auth else auth * 1000,
                      "integration": round(integration * 1000, 3) if integration
                      else integration * 1000})

    def _rest(self, facts: BastionFacts) -> bytes:
        """The ``bastion`` object after ``latencyMs``, without braces."""
        principal, authorizer, reason, response_type, trace = facts[6:]
        if principal is None and authorizer is None and reason is None \
                and response_type is None and not trace:
            return _REST_NONE
        if authorizer is not None and isinstance(authorizer, Mapping):
            authorizer = self._red.mapping(authorizer)
        return dumps({"principal": principal, "authorizer": authorizer, "reason": reason,
                      "responseType": response_type,
                      "trace": [{"stage": st, "event": ev} for st, ev in trace]})[1:-1]

    def _remember(self, key: Any, value: bytes) -> bytes:
        small = self._small
        if len(small) >= self._cache_max:
            small.clear()
        small[key] = value
        return value

    def _mid(self, rule_id: str, rule_type: str, action: str,
             code_sent: int | None) -> tuple[bytes, bytes, bytes]:
        """The fields between ``timestamp`` and ``httpRequest``, in three parts around the
        values of ``ruleGroupList`` and ``nonTerminatingMatchingRules``."""
        b = self._builder
        before = dumps({
            "formatVersion": 1, "webaclId": b.webacl_id, "terminatingRuleId": rule_id,
            "terminatingRuleType": rule_type, "action": action,
            "terminatingRuleMatchDetails": [], "httpSourceName": b.http_source_name,
            "httpSourceId": b.http_source_id})
        after = dumps({"requestHeadersInserted": None, "responseCodeSent": code_sent})
        return (b"," + before[1:-1] + b',"ruleGroupList":',
                b',"rateBasedRuleList":[],"nonTerminatingMatchingRules":',
                b"," + after[1:-1])

    def _slow(self, timestamp_ms: int, client_ip: str, method: str, uri: str, args: str,
              headers: Sequence[tuple[Any, Any, Any]], http_version: str, request_id: str,
              scheme: str | None, host: str | None, fields: Mapping[str, Any],
              labels: Sequence[str], body_size: int, bastion: BastionFacts) -> bytes:
        info = HttpRequestInfo(client_ip=client_ip, method=method, uri=uri, args=args,
                               headers=[(_text(n), _text(v)) for _, n, v in headers],
                               http_version=http_version, request_id=request_id, scheme=scheme,
                               host=host)
        rec = self._builder.build(timestamp_ms=timestamp_ms, request=info, labels=labels,
                                  body_size=body_size, bastion=bastion_object(*bastion),
                                  **fields)
        return orjson.dumps(rec, option=_OPT)


_LINE = (b'{"timestamp":%d%s%s%s%s%s,'
         b'"httpRequest":{"clientIp":%s,"country":"-","headers":%s,"uri":%s,"args":%s,'
         b'"httpVersion":%s,"httpMethod":%s,"requestId":%s%s},"labels":%s,'
         b'"requestBodySize":%d,"requestBodySizeInspectedByWAF":%d,'
         b'"bastion":{"route":%s,"status":%d,"latencyMs":%s,%s}}\n')
_REST_NONE = (b'"principal":null,"authorizer":null,"reason":null,"responseType":null,'
              b'"trace":[]')
