"""Emitted WAF records validate against the DDL-derived schema; AWS's samples parse too."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from bastion.observe.redact import REDACTED, Redactor
from bastion.observe.waflog import (
    HttpRequestInfo,
    WafLogBuilder,
    match_detail,
    parse_waf_record,
    rate_based_entry,
)

from .hive_schema import VECTORS, generate

SCHEMA = json.loads((VECTORS / "waf-log.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
SAMPLES = [json.loads(line)
           for line in (VECTORS / "aws-doc-samples.jsonl").read_text().splitlines()]


def test_checked_in_schema_is_generated_from_ddl() -> None:
    assert (VECTORS / "waf-log.schema.json").read_text() == generate()


@pytest.mark.parametrize("sample", SAMPLES, ids=[s["name"] for s in SAMPLES])
def test_aws_doc_samples_validate_and_parse(sample: dict[str, Any]) -> None:
    VALIDATOR.validate(sample["record"])
    rec = parse_waf_record(orjson.dumps(sample["record"]))
    assert rec["formatVersion"] == 1
    assert isinstance(rec["labels"], list)
    for rb in rec["rateBasedRuleList"]:
        assert isinstance(rb["evaluationWindowSec"], int)


def _builder(**kw: Any) -> WafLogBuilder:
    return WafLogBuilder(webacl_id="arn:aws:wafv2:local:000000000000:regional/webacl/main/1",
                         http_source_id="000000000000:petstore:prod", **kw)


def _request(rng: random.Random, i: int) -> HttpRequestInfo:
    headers = [("Host", "api.local"), ("User-Agent", f"ua/{i}"),
               ("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/x, Signature=abc123"),
               ("Cookie", "session=s3cr3t"), ("X-Api-Key", "key-0123456789"),
               ("x-amz-security-token", "FQoGZXIvYXdzE")]
    rng.shuffle(headers)
    args = rng.choice(["", "a=1&b=2",
                       "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20260101"
                       "&X-Amz-Signature=deadbeef&X-Amz-Security-Token=tok&x=1"])
    return HttpRequestInfo(client_ip=f"10.0.{i % 256}.{rng.randrange(256)}",
                           method=rng.choice(["GET", "POST", "DELETE"]),
                           uri=f"/pets/{i}", args=args, headers=headers, request_id=f"r{i}",
                           country=rng.choice(["US", "FR", "-"]), scheme="https",
                           host="api.local")


def _random_record(rng: random.Random, i: int) -> dict[str, Any]:
    action = rng.choice(["ALLOW", "BLOCK", "CAPTCHA", "CHALLENGE"])
    kind = rng.choice(["REGULAR", "RATE_BASED", "GROUP", "MANAGED_RULE_GROUP"])
    sqli = match_detail("SQL_INJECTION", "HEADER", ["session=s3cr3t", "1"], "HIGH")
    return _builder().build(
        timestamp_ms=1_767_225_600_000 + i, request=_request(rng, i), action=action,
        terminating_rule_id="Default_Action" if action == "ALLOW" else "SQLiRule",
        terminating_rule_type=kind,
        terminating_match_details=[sqli] if action == "BLOCK" else [],
        rule_groups=[{"ruleGroupId": "AWS#AWSManagedRulesCommonRuleSet",
                      "terminatingRule": {"ruleId": "SizeRestrictions_BODY", "action": "BLOCK",
                                          "ruleMatchDetails": None},
                      "nonTerminatingMatchingRules": [], "excludedRules": None}]
        if kind == "GROUP" else [],
        rate_based_rules=[rate_based_entry("PerIp", "IP", 100, 300)] if kind == "RATE_BASED"
        else [],
        non_terminating=[{"ruleId": "CountRule", "action": "COUNT", "ruleMatchDetails": [sqli]}],
        labels=[f"bastion:main:label{j}" for j in range(rng.choice([0, 3, 150]))],
        body_size=rng.choice([None, 0, 9000]), body_inspected=8192,
        oversize_fields=["REQUEST_BODY"] if rng.random() < 0.2 else [],
        response_code_sent=rng.choice([None, 403, 429]),
        request_headers_inserted=[("x-bastion-label", "1")] if rng.random() < 0.2 else None,
        captcha_response={"responseCode": 405, "solveTimestamp": 0,
                          "failureReason": "TOKEN_MISSING"} if action == "CAPTCHA" else None,
        bastion={"route": "GET /pets/{petId}", "status": 200,
                 "latencyMs": {"total": 3.1, "waf": 0.4, "auth": 0.2, "integration": 2.0},
                 "principal": "arn:aws:iam::000000000000:user/alice",
                 "authorizer": {"status": 200, "apiKey": "k-secret"},
                 "reason": "default-allow"},
    )


def test_emitted_records_validate_strictly() -> None:
    rng = random.Random(1)
    for i in range(500):
        rec = _random_record(rng, i)
        line = orjson.dumps(rec)
        assert b"\n" not in line
        back = orjson.loads(line)
        VALIDATOR.validate(back)
        assert isinstance(back["timestamp"], int) and back["formatVersion"] == 1
        assert len(back["labels"]) <= 100
        assert back["terminatingRuleId"] == "Default_Action" or back["action"] != "ALLOW"
        for key in ("clientIp", "country", "headers", "uri", "args", "httpVersion",
                    "httpMethod", "requestId"):
            assert key in back["httpRequest"]
        assert parse_waf_record(line)["action"] == back["action"]


def test_secrets_never_reach_the_line() -> None:
    rng = random.Random(2)
    for i in range(200):
        line = orjson.dumps(_random_record(rng, i)).decode()
        for secret in ("abc123", "s3cr3t", "key-0123456789", "FQoGZXIvYXdzE", "deadbeef",
                       "AKID%2F2026", "AKID/2026", "tok&", "k-secret"):
            assert secret not in line, (secret, line)
        assert REDACTED in line


def test_configured_and_aws_redacted_fields() -> None:
    red = Redactor.from_aws([{"SingleHeader": {"Name": "X-Tenant-Secret"}}, {"UriPath": {}}],
                            query_params=["token"], fields=["password"])
    rec = _builder(redactor=red).build(
        timestamp_ms=1, request=HttpRequestInfo(
            client_ip="1.2.3.4", method="GET", uri="/reset/abcdef", args="token=zzz&q=ok",
            headers=[("x-tenant-secret", "hunter2"), ("Accept", "*/*")]),
        bastion={"authorizer": {"claims": {"password": "pw", "sub": "u1"}}})
    text = orjson.dumps(rec).decode()
    assert "hunter2" not in text and "zzz" not in text and "abcdef" not in text
    assert '"pw"' not in text and "u1" in text and "q=ok" in text


def test_labels_capped_and_bad_enums_refused() -> None:
    req = HttpRequestInfo(client_ip="1.1.1.1", method="GET", uri="/")
    rec = _builder().build(timestamp_ms=1, request=req, labels=(f"l{i}" for i in range(500)))
    assert len(rec["labels"]) == 100
    with pytest.raises(ValueError):
        _builder().build(timestamp_ms=1, request=req, action="COUNT")
    with pytest.raises(ValueError):
        _builder().build(timestamp_ms=1, request=req, terminating_rule_type="X")


@pytest.mark.parametrize("bad", [
    {}, {"timestamp": "x"}, {"action": "NOPE"}, {"httpRequest": []},
])
def test_reader_rejects_malformed(bad: dict[str, Any]) -> None:
    base = dict(SAMPLES[0]["record"])
    base.update(bad)
    if not bad:
        del base["httpRequest"]
    with pytest.raises(ValueError):
        parse_waf_record(base)


def test_vectors_ship_with_readme_and_licence() -> None:
    assert (Path(VECTORS) / "README.md").is_file() and (Path(VECTORS) / "LICENCE").is_file()
