"""The OWASP CRS as a gateway stage: blocking, detection-only, exclusions, explained blocks,
and as the engine behind the Web ACL's managed group."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from bastion.clock import FrozenClock
from bastion.config import settings_from_data
from bastion.gateway.gateway import Gateway, build_gateway
from bastion.http.app import BastionApp
from bastion.layers import builtin_layers
from bastion.pipeline import Exchange
from tests.helpers import Reply, call

HEADERS = [("Host", "api.example.com"), ("User-Agent", "Mozilla/5.0 (X11; Linux) Firefox/120"),
           ("Accept", "application/json")]


def build(tmp_path: Path, clock: FrozenClock, **cfg: Any) -> BastionApp:
    api = {"openapi": "3.0.1", "info": {"title": "t", "version": "1"}, "paths": {
        "/pets": {"get": {"x-amazon-apigateway-integration": {
            "type": "aws_proxy", "uri": "tests.gateway.handlers:echo"}}}}}
    (tmp_path / "api.yaml").write_text(yaml.safe_dump(api))
    config = {"api": {"openapi": "api.yaml", "stage": "prod"}, "logging": {"enabled": False},
              **cfg}
    return BastionApp(build_gateway(settings_from_data(config, tmp_path / "bastion.yaml"),
                                    clock=clock, layers=builtin_layers()))


def send(app: BastionApp, query: str) -> tuple[Reply, Exchange]:
    gw: Gateway = app.gateway
    seen: dict[str, Exchange] = {}
    original = gw.finish

    def capture(ex: Exchange) -> Any:
        seen["ex"] = ex
        return original(ex)
    gw.finish = capture  # type: ignore[method-assign]
    try:
        reply = asyncio.run(call(app, "GET", "/prod/pets", query=query, headers=HEADERS))
    finally:
        gw.finish = original  # type: ignore[method-assign]
    return reply, seen["ex"]


SQLI = "id=1%27%20UNION%20SELECT%20password%20FROM%20users--"


def test_blocking_mode_blocks_sqli_and_explains_why(tmp_path: Path, clock: FrozenClock) -> None:
    app = build(tmp_path, clock, waf={"crs": {"paranoia": 1}})
    ok, _ = send(app, "id=42&sort=name")
    assert ok.status == 200
    reply, ex = send(app, SQLI)
    assert reply.status == 403
    assert reply.body == b'{"message":"Forbidden"}'
    assert reply.header("x-amzn-ErrorType") == "WafFilteredException"
    assert ex.interruption is not None and ex.interruption.rule_id == "949110"
    crs = ex.notes["crs"]
    ids = {m["id"] for m in crs["matched"]}
    assert 942100 in ids  # libinjection SQLi
    assert any(m["variable"].startswith("ARGS") for m in crs["matched"])
    assert crs["scores"]
    assert ex.notes["waf_log"]["action"] == "BLOCK"
    # the logged reason names the total and the categories that scored, not twenty counters
    reason = ex.interruption.reason
    assert reason.startswith(f"OWASP CRS anomaly_score={crs['scores']['anomaly_score']} "
                             f"(sql_injection_score={crs['scores']['sql_injection_score']}): ")
    assert "942100 SQL Injection Attack Detected via libinjection" in reason
    assert "rfi_score" not in reason and "pl1" not in reason


def test_detection_mode_scores_but_never_blocks(tmp_path: Path, clock: FrozenClock) -> None:
    app = build(tmp_path, clock, waf={"crs": {"paranoia": 1, "mode": "detection"}})
    reply, ex = send(app, SQLI)
    assert reply.status == 200
    assert ex.notes["crs"]["blocked"] is True  # would have blocked
    assert ex.notes["waf_log"]["non_terminating"]


def test_exclusions_file(tmp_path: Path, clock: FrozenClock) -> None:
    (tmp_path / "excl.conf").write_text(
        'SecRuleUpdateTargetById 942100 "!ARGS:id"\n'
        'SecRuleUpdateTargetByTag "attack-sqli" "!ARGS:id"\n')
    app = build(tmp_path, clock, waf={"crs": {"paranoia": 1, "exclusions": ["excl.conf"]}})
    reply, _ = send(app, SQLI)
    assert reply.status == 200


def test_bad_paranoia_is_a_config_error(tmp_path: Path, clock: FrozenClock) -> None:
    from bastion.errors import ConfigError

    with pytest.raises(ConfigError, match="waf.crs.paranoia: must be 1-4"):
        build(tmp_path, clock, waf={"crs": {"paranoia": 7}})


def test_web_acl_managed_crs_group(tmp_path: Path, clock: FrozenClock) -> None:
    acl = {"Name": "t", "Id": "1", "ARN": "arn:aws:wafv2:us-east-1:123456789012:regional/"
           "webacl/t/1", "DefaultAction": {"Allow": {}},
           "VisibilityConfig": {"SampledRequestsEnabled": False,
                                "CloudWatchMetricsEnabled": False, "MetricName": "t"},
           "Rules": [{"Name": "crs", "Priority": 0, "OverrideAction": {"None": {}},
                      "Statement": {"ManagedRuleGroupStatement": {
                          "VendorName": "OWASP", "Name": "CoreRuleSet", "Version": "PL1"}},
                      "VisibilityConfig": {"SampledRequestsEnabled": False,
                                           "CloudWatchMetricsEnabled": False,
                                           "MetricName": "crs"}}]}
    (tmp_path / "acl.json").write_text(json.dumps(acl))
    app = build(tmp_path, clock, webacl={"file": "acl.json"})
    assert send(app, "id=42")[0].status == 200
    reply, ex = send(app, SQLI)
    assert reply.status == 403
    assert ex.notes["waf_log"]["terminating_rule_type"] == "MANAGED_RULE_GROUP"
