"""The fast WAF line encoder writes exactly what the reference builder + orjson write."""

from __future__ import annotations

import random
from types import MappingProxyType
from typing import Any

import orjson
import pytest

from bastion.observe.redact import Redactor
from bastion.observe.wafencode import BastionFacts, WafLineEncoder, bastion_object
from bastion.observe.waflog import HttpRequestInfo, WafLogBuilder, match_detail

NAMES = ["Host", "User-Agent", "Accept", "X-Request-Id", "Authorization", "Cookie", "x-api-key",
         "X-Session", "X-Amz-Security-Token", "Content-Type", "X-Password"]
VALUES = ["", "a", "bench/1.0", "Bearer t0ken", "sess=s3cr3t", "é-latin1-\xff", 'quote"back\\',
          "x" * 40, "ctrl\x01\x1f"]
ARGS = ["", "id=123&sort=asc", "X-Amz-Signature=abc&x=1", "x-amz-credential=A%2FB",
        "a+b=c&password=hunter2", "q=%41&r", "Ä=1", "k", "&&", "api_key=1&api_key=2"]


# what the CRS stage logs for a block (bastion.waf.crs_layer)
CRS_BLOCK = {"ruleGroupId": "OWASP#CoreRuleSet#PL1",
             "terminatingRule": {"ruleId": "949110", "action": "BLOCK"},
             "nonTerminatingMatchingRules": [{"ruleId": "942100", "action": "COUNT"}],
             "excludedRules": None}


def _fields(rng: random.Random) -> dict[str, Any]:
    f: dict[str, Any] = {}
    for key, choices in (
            ("action", ["ALLOW", "BLOCK", "CAPTCHA", "COUNT"]),
            ("terminating_rule_id", ["Default_Action", "SQLi", 'we"ird']),
            ("terminating_rule_type", ["REGULAR", "GROUP", "BOGUS"]),
            ("response_code_sent", [None, 403]),
            ("body_inspected", [None, 0, 5]),
            ("terminating_match_details", [None, [], [match_detail("SQL_INJECTION", "HEADER",
                                                                   ["s3cr3t"])]]),
            ("rule_groups", [[], [{"ruleGroupId": "g", "terminatingRule": None}],
                             [CRS_BLOCK], (CRS_BLOCK, {"ruleGroupId": "h", "excludedRules": [
                                 {"exclusionType": "EXCLUDED_AS_COUNT", "ruleId": "x"}]}),
                             [{"ruleGroupId": "g", "terminatingRule": {
                                 "ruleId": "t", "action": "BLOCK",
                                 "ruleMatchDetails": [match_detail("XSS", "HEADER", ["s"])]}}],
                             [{"ruleGroupId": "g", "nonTerminatingMatchingRules": [
                                 {"ruleId": "c", "action": "COUNT", "ruleMatchDetails": [
                                     match_detail("XSS", "HEADER", ["s"])]}]}],
                             [{"ruleGroupId": "g", "terminatingRule": MappingProxyType(
                                 {"ruleId": "t", "action": "BLOCK"})}],
                             [MappingProxyType({"ruleGroupId": "g"})]]),
            ("rate_based_rules", [[], [{"rateBasedRuleName": "r", "limitKey": "IP",
                                        "maxRateAllowed": 10, "evaluationWindowSec": "60"}]]),
            ("non_terminating", [[], [{"ruleId": "c1", "action": "COUNT"}],
                                 [{"ruleId": "OWASP-CRS#920350", "action": "COUNT"},
                                  {"ruleId": 'q"\u00e9', "action": "COUNT"}],
                                 ({"ruleId": "c2", "action": "COUNT", "ruleMatchDetails": []},),
                                 [{"ruleId": "c3", "action": "COUNT", "ruleMatchDetails": None}],
                                 [{"ruleId": "c4", "action": "COUNT", "ruleMatchDetails": [
                                     match_detail("XSS", "HEADER", ["s3cr3t"])]}],
                                 [MappingProxyType({"ruleId": "c5", "action": "COUNT"})]]),
            ("request_headers_inserted", [None, [], [("X-Added", "1")]]),
            ("oversize_fields", [[], ["REQUEST_BODY"]]),
            ("captcha_response", [None, {}, {"responseCode": 405}]),
            ("challenge_response", [None, {"responseCode": 202}])):
        if rng.random() < 0.35:   # the first choice is what the fast path takes
            f[key] = choices[0] if rng.random() < 0.8 else rng.choice(choices)
    return f


@pytest.mark.parametrize("seed", range(400))
def test_encoder_matches_reference_builder(seed: int) -> None:
    rng = random.Random(seed)
    red = Redactor(headers=rng.choice([[], ["X-Session"]]),
                   uri_path=rng.random() < 0.1, method=rng.random() < 0.1,
                   query_string=rng.random() < 0.1, max_value_length=rng.choice([8, 8192]))
    builder = WafLogBuilder(webacl_id="arn:aws:wafv2:r:1:regional/webacl/a", http_source_id="a:p",
                            redactor=red)
    enc = WafLineEncoder(builder, cache_max=rng.choice([1, 4096]))
    for _ in range(3):   # the caches are warm on the second and third round
        pairs = [(rng.choice(NAMES), rng.choice(VALUES)) for _ in range(rng.randrange(6))]
        triples: list[tuple[Any, Any, Any]] = [
            (n.lower().encode("latin-1"), n.encode("latin-1"), v.encode("latin-1"))
            for n, v in pairs]
        if rng.random() < 0.2:   # headers built from text, not from the wire
            triples = [(n.lower(), n, v) for n, v in pairs]
        args = rng.choice(ARGS)
        fields = _fields(rng)
        labels = rng.choice([[], ["awswaf:a"], [f"l{i}" for i in range(120)]])
        auth = rng.choice([None, {"principalId": "u", "password": "p", "claims": {"sub": "s"}}])
        facts: BastionFacts = (
            rng.choice(["/x", "UNMATCHED", 'we"ird']), rng.choice([200, 403, 502]),
            rng.choice([0.0, 0.0012345, 1.5, 12.0]), 0.0, rng.choice([0.0, 3e-05]),
            rng.choice([0.0, 0.0009999]), rng.choice([None, "user-1"]), auth,
            rng.choice([None, "no route"]), rng.choice([None, "MISSING_AUTHENTICATION_TOKEN"]),
            rng.choice([(), (("route", "miss"),)]))
        if rng.random() < 0.5:   # the common case: nobody authenticated, nothing went wrong
            facts = (*facts[:6], None, None, None, None, ())
        scheme, host = rng.choice([("http", "h"), (None, None)])
        info = HttpRequestInfo(client_ip="10.0.0.1", method="GET", uri="/p/%22", args=args,
                               headers=pairs, http_version="HTTP/1.1", request_id="rid",
                               scheme=scheme, host=host)
        try:
            want: bytes | type[Exception] = orjson.dumps(builder.build(
                timestamp_ms=1_700_000_000_123, request=info, labels=labels, body_size=7,
                bastion=bastion_object(*facts), **fields), option=orjson.OPT_APPEND_NEWLINE)
        except (TypeError, ValueError) as exc:
            want = type(exc)
        try:
            got: bytes | type[Exception] = enc.encode(
                1_700_000_000_123, "10.0.0.1", "GET", "/p/%22", args, triples, "HTTP/1.1",
                "rid", scheme, host, fields, labels, 7, facts)
        except (TypeError, ValueError) as exc:
            got = type(exc)
        assert got == want, (pairs, args, fields)


def test_secret_header_and_query_values_are_never_cached() -> None:
    enc = WafLineEncoder(WafLogBuilder(webacl_id="w"))
    for token in ("Bearer one", "Bearer two"):
        line = enc.encode(1, "ip", "GET", "/", f"X-Amz-Signature={token[-3:]}&a=1",
                          [(b"authorization", b"Authorization",
                                                      token.encode())], "HTTP/1.1", "r", None,
                          None, {}, [], 0, ("/", 200, 0.0, 0.0, 0.0, 0.0, None, None, None,
                                            None, ()))
        assert token.encode() not in line and b'"REDACTED"' in line
        assert b"X-Amz-Signature=REDACTED&a=1" in line
    assert not any(b"Bearer" in repr(k).encode() for k in enc._pairs)
    assert not enc._queries


class _FastOnly(WafLineEncoder):
    __slots__ = ()

    def _slow(self, *args: Any) -> bytes:
        raise AssertionError("took the reference builder")


@pytest.mark.parametrize("fields", [
    {"non_terminating": [{"ruleId": "OWASP-CRS#920350", "action": "COUNT"}]},
    {"non_terminating": ({"ruleId": "count-a", "action": "COUNT", "ruleMatchDetails": []},
                         {"ruleId": "count-b", "action": "COUNT", "ruleMatchDetails": None})},
    {"action": "BLOCK", "terminating_rule_id": "OWASP-CRS", "response_code_sent": 403,
     "terminating_rule_type": "MANAGED_RULE_GROUP", "rule_groups": [CRS_BLOCK]}])
def test_matches_without_details_are_encoded_without_the_builder(
        fields: dict[str, Any]) -> None:
    """Requests with COUNT matches (CRS scores below the threshold) are common on real
    traffic, and a CRS block names its rules in a rule group: they stay on the fast path,
    and their line is still ``build``'s."""
    builder = WafLogBuilder(webacl_id="w")
    facts: BastionFacts = ("/", 200, 0.001, 0.0002, 0.0, 0.0005, None, None, None, None, ())
    labels = ["bastion:crs:rule:920350"]
    got = _FastOnly(builder).encode(1, "ip", "GET", "/", "", [(b"host", b"Host", b"h")],
                                    "HTTP/1.1", "r", None, "h", fields, labels, 0, facts)
    info = HttpRequestInfo(client_ip="ip", method="GET", uri="/", args="",
                           headers=[("Host", "h")], http_version="HTTP/1.1", request_id="r",
                           host="h")
    want = orjson.dumps(builder.build(timestamp_ms=1, request=info, labels=labels, body_size=0,
                                      bastion=bastion_object(*facts), **fields),
                        option=orjson.OPT_APPEND_NEWLINE)
    assert got == want
    record = orjson.loads(got)
    assert record["nonTerminatingMatchingRules"] == list(fields.get("non_terminating", []))
    assert record["ruleGroupList"] == fields.get("rule_groups", [])


_DETAIL = {"ruleId": "c", "action": "COUNT",
           "ruleMatchDetails": [match_detail("XSS", "HEADER", ["x"])]}


@pytest.mark.parametrize("fields", [
    {"non_terminating": [_DETAIL]},
    {"rule_groups": [{**CRS_BLOCK, "nonTerminatingMatchingRules": [_DETAIL]}]},
    {"rule_groups": [{**CRS_BLOCK, "terminatingRule": {**_DETAIL, "action": "BLOCK"}}]}])
def test_matches_with_details_go_through_the_builder(fields: dict[str, Any]) -> None:
    """Match details carry matched data, which only ``build`` scrubs of secrets."""
    with pytest.raises(AssertionError, match="reference builder"):
        _FastOnly(WafLogBuilder(webacl_id="w")).encode(
            1, "ip", "GET", "/", "", [], "HTTP/1.1", "r", None, None, fields, [], 0,
            ("/", 200, 0.0, 0.0, 0.0, 0.0, None, None, None, None, ()))
