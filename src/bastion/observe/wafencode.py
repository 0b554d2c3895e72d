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
  to ``build``, which raises as before).

``tests/observe/test_wafencode.py`` checks the equality against ``build`` over generated inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from bastion.observe.redact import REDACTED
from bastion.observe.waflog import (
    ACTIONS,
    MAX_LABELS,
    TERMINATING_RULE_TYPES,
    HttpRequestInfo,
    WafLogBuilder,
)

__all__ = ["WafLineEncoder"]

# WafLogBuilder.build keyword arguments the fast path handles; the rest must be empty or None
_SIMPLE = frozenset({"action", "terminating_rule_id", "terminating_rule_type",
                     "response_code_sent", "body_inspected"})
# ... and these only when they would add nothing to the record (as ``build`` treats them)
_NONE_OR_EMPTY = frozenset({"terminating_match_details"})
_EMPTY = frozenset({"rule_groups", "rate_based_rules", "non_terminating", "oversize_fields"})
_NONE = frozenset({"request_headers_inserted", "captcha_response", "challenge_response"})


def _plain(key: str, value: Any) -> bool:
    if key in _SIMPLE:
        return True
    if key in _NONE:
        return value is None
    if key in _EMPTY:
        return value is not None and not value
    return key in _NONE_OR_EMPTY and not value
_OPT = orjson.OPT_APPEND_NEWLINE


def _text(value: str | bytes) -> str:
    return value if type(value) is str else value.decode("latin-1")  # type: ignore[union-attr]


class WafLineEncoder:
    """One JSON line per request, equal to ``orjson.dumps(builder.build(...)) + b"\\n"``.

    Not thread-safe (its caches are plain dicts): one encoder per writer thread.
    """

    __slots__ = ("_builder", "_cache_max", "_pairs", "_red", "_redacted", "_secret", "_limit")

    def __init__(self, builder: WafLogBuilder, *, cache_max: int = 4096) -> None:
        self._builder = builder
        self._red = builder.redactor
        self._secret = self._red.secret_headers
        self._limit = self._red.max_value_length
        self._pairs: dict[tuple[Any, Any, Any], bytes] = {}
        self._redacted: dict[str, bytes] = {}
        self._cache_max = cache_max

    def _headers(self, triples: Sequence[tuple[Any, Any, Any]]) -> orjson.Fragment:
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
        return orjson.Fragment(b"[" + b",".join(frags) + b"]")

    def encode(self, timestamp_ms: int, client_ip: str, method: str, uri: str, args: str,
               headers: Sequence[tuple[Any, Any, Any]], http_version: str, request_id: str,
               scheme: str | None, host: str | None, fields: Mapping[str, Any],
               labels: Sequence[str], body_size: int, bastion: Mapping[str, Any]) -> bytes:
        """The line for ``builder.build(timestamp_ms=..., request=HttpRequestInfo(...),
        labels=..., body_size=..., bastion=..., **fields)``; raises what ``build`` raises.

        ``headers`` are ``(lower-case name, name as sent, value)`` triples as
        ``Headers.raw_pairs()`` gives them (bytes, decoded as latin-1 like ``Headers.items()``;
        str is accepted too). Positional, and no ``HttpRequestInfo`` unless the slow path needs
        one: both cost.
        """
        action = "ALLOW"
        rule_id = "Default_Action"
        rule_type = "REGULAR"
        code_sent = None
        inspected = None
        simple = True
        if fields:
            simple = False
            for key, value in fields.items():
                if key not in _SIMPLE and not _plain(key, value):
                    break
            else:
                action = fields.get("action", action)
                rule_id = fields.get("terminating_rule_id", rule_id)
                rule_type = fields.get("terminating_rule_type", rule_type)
                code_sent = fields.get("response_code_sent")
                inspected = fields.get("body_inspected")
                simple = True
        if not simple or action not in ACTIONS or rule_type not in TERMINATING_RULE_TYPES:
            info = HttpRequestInfo(client_ip=client_ip, method=method, uri=uri, args=args,
                                   headers=[(_text(n), _text(v)) for _, n, v in headers],
                                   http_version=http_version,
                                   request_id=request_id, scheme=scheme, host=host)
            rec = self._builder.build(timestamp_ms=timestamp_ms, request=info, labels=labels,
                                      body_size=body_size, bastion=bastion, **fields)
            return orjson.dumps(rec, option=_OPT)
        b = self._builder
        red = self._red
        http: dict[str, Any] = {
            "clientIp": client_ip,
            "country": "-",
            "headers": self._headers(headers),
            "uri": "REDACTED" if red.uri_path else uri,
            "args": red.query(args),
            "httpVersion": http_version,
            "httpMethod": "REDACTED" if red.method else method,
            "requestId": request_id,
        }
        if scheme is not None:
            http["scheme"] = scheme
        if host is not None:
            http["host"] = host
        auth = bastion.get("authorizer")
        if auth is not None and isinstance(auth, Mapping):
            bastion = {**bastion, "authorizer": red.mapping(auth)}
        rec = {
            "timestamp": int(timestamp_ms),
            "formatVersion": 1,
            "webaclId": b.webacl_id,
            "terminatingRuleId": rule_id,
            "terminatingRuleType": rule_type,
            "action": action,
            "terminatingRuleMatchDetails": [],
            "httpSourceName": b.http_source_name,
            "httpSourceId": b.http_source_id,
            "ruleGroupList": [],
            "rateBasedRuleList": [],
            "nonTerminatingMatchingRules": [],
            "requestHeadersInserted": None,
            "responseCodeSent": code_sent,
            "httpRequest": http,
            "labels": [{"name": n} for n in labels[:MAX_LABELS]] if labels else [],
            "requestBodySize": int(body_size),
            "requestBodySizeInspectedByWAF": int(body_size if inspected is None else inspected),
            "bastion": bastion,
        }
        return orjson.dumps(rec, option=_OPT)
