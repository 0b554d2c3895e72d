"""AWS WAF's LoggingConfiguration: the LoggingFilter's keep/drop decisions table by table, its
validation errors, and the whole path (a filtered record is never written, RedactedFields
apply) through the gateway."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from bastion.clock import FrozenClock
from bastion.observe.logfilter import LoggingFilter, WafLoggingConfiguration, record_actions
from tests.helpers import call
from tests.observe.test_layer import SCHEMA, app_for, records

ALLOWED: dict[str, Any] = {"action": "ALLOW", "terminating_rule_id": "Default_Action"}
BLOCKED: dict[str, Any] = {"action": "BLOCK", "terminating_rule_id": "no-evil"}
COUNTED: dict[str, Any] = {**ALLOWED, "non_terminating": [{"ruleId": "watch", "action": "COUNT"}]}
# a managed group rule whose Block a RuleActionOverride turned into Count
OVERRIDDEN: dict[str, Any] = {**ALLOWED, "rule_groups": [{
    "ruleGroupId": "AWS#AWSManagedRulesCommonRuleSet", "terminatingRule": None,
    "nonTerminatingMatchingRules": [{"ruleId": "NoUserAgent_HEADER", "action": "COUNT",
                                     "overriddenAction": "BLOCK"}], "excludedRules": None}]}
EXCLUDED: dict[str, Any] = {**ALLOWED, "rule_groups": [{
    "ruleGroupId": "AWS#AWSManagedRulesCommonRuleSet", "terminatingRule": None,
    "nonTerminatingMatchingRules": [],
    "excludedRules": [{"exclusionType": "EXCLUDED_AS_COUNT", "ruleId": "SizeRestrictions_BODY"}]}]}
# a whole rule group overridden to Count at the web ACL: a plain COUNT there
GROUP_COUNTED: dict[str, Any] = {**ALLOWED, "non_terminating": [{
    "ruleId": "AWS-AWSManagedRulesSQLiRuleSet", "action": "COUNT", "overriddenAction": "BLOCK"}]}
CHALLENGED: dict[str, Any] = {"action": "CHALLENGE", "terminating_rule_id": "bots"}


def action(a: str) -> dict[str, Any]:
    return {"ActionCondition": {"Action": a}}


def label(name: str) -> dict[str, Any]:
    return {"LabelNameCondition": {"LabelName": name}}


def flt(behavior: str, requirement: str, *conditions: dict[str, Any]) -> dict[str, Any]:
    return {"Behavior": behavior, "Requirement": requirement, "Conditions": list(conditions)}


@pytest.mark.parametrize(("record", "actions"), [
    (ALLOWED, {"ALLOW"}), (BLOCKED, {"BLOCK"}), (COUNTED, {"ALLOW", "COUNT"}),
    (OVERRIDDEN, {"ALLOW", "EXCLUDED_AS_COUNT"}), (EXCLUDED, {"ALLOW", "EXCLUDED_AS_COUNT"}),
    (GROUP_COUNTED, {"ALLOW", "COUNT"}), (CHALLENGED, {"CHALLENGE"}), ({}, {"ALLOW"}),
])
def test_the_actions_a_record_contains(record: dict[str, Any], actions: set[str]) -> None:
    assert record_actions(record) == actions


KEEP_BLOCK_AND_COUNT = {"DefaultBehavior": "DROP", "Filters": [
    flt("KEEP", "MEETS_ANY", action("BLOCK"), action("COUNT"))]}
KEEP_LABELLED_BLOCKS = {"DefaultBehavior": "DROP", "Filters": [
    flt("KEEP", "MEETS_ALL", action("BLOCK"), label("app:bot"), action("BLOCK"))]}
FIRST_MATCH = {"DefaultBehavior": "KEEP", "Filters": [
    flt("DROP", "MEETS_ANY", label("app:noisy")), flt("KEEP", "MEETS_ANY", action("BLOCK"))]}
DROP_EXCLUDED = {"DefaultBehavior": "KEEP", "Filters": [
    flt("DROP", "MEETS_ALL", action("EXCLUDED_AS_COUNT"))]}


@pytest.mark.parametrize(("config", "record", "labels", "kept"), [
    (KEEP_BLOCK_AND_COUNT, ALLOWED, [], False),
    (KEEP_BLOCK_AND_COUNT, BLOCKED, [], True),
    (KEEP_BLOCK_AND_COUNT, COUNTED, [], True),
    (KEEP_BLOCK_AND_COUNT, GROUP_COUNTED, [], True),
    (KEEP_BLOCK_AND_COUNT, OVERRIDDEN, [], False),   # COUNT does not catch EXCLUDED_AS_COUNT
    (KEEP_BLOCK_AND_COUNT, CHALLENGED, [], False),
    (KEEP_BLOCK_AND_COUNT, None, [], False),          # no Web ACL: an ALLOW record
    (KEEP_LABELLED_BLOCKS, BLOCKED, ["app:bot", "x"], True),
    (KEEP_LABELLED_BLOCKS, BLOCKED, ["x"], False),
    (KEEP_LABELLED_BLOCKS, ALLOWED, ["app:bot"], False),
    (FIRST_MATCH, BLOCKED, ["app:noisy"], False),    # the first filter that matches decides
    (FIRST_MATCH, BLOCKED, [], True),
    (FIRST_MATCH, ALLOWED, [], True),                # no filter: DefaultBehavior
    (DROP_EXCLUDED, EXCLUDED, [], False),
    (DROP_EXCLUDED, OVERRIDDEN, [], False),
    (DROP_EXCLUDED, COUNTED, [], True),
])
def test_logging_filter_decisions(config: dict[str, Any], record: dict[str, Any] | None,
                                  labels: list[str], kept: bool) -> None:
    assert LoggingFilter.from_aws(config).keeps(record, labels) is kept


@pytest.mark.parametrize(("config", "message"), [
    ({"Filters": [flt("KEEP", "MEETS_ANY", action("BLOCK"))]},
     "LoggingConfiguration.LoggingFilter.DefaultBehavior: must be KEEP or DROP, got None"),
    ({"DefaultBehavior": "DROP", "Filters": []},
     "LoggingConfiguration.LoggingFilter.Filters: must be a list of at least one filter"),
    ({"DefaultBehavior": "DROP", "Filters": [flt("KEEP", "ANY", action("BLOCK"))]},
     "LoggingConfiguration.LoggingFilter.Filters[0].Requirement: must be MEETS_ALL or "
     "MEETS_ANY, got 'ANY'"),
    ({"DefaultBehavior": "DROP", "Filters": [flt("KEEP", "MEETS_ANY", action("DENY"))]},
     "LoggingConfiguration.LoggingFilter.Filters[0].Conditions[0].ActionCondition.Action: "
     "must be one of"),
    ({"DefaultBehavior": "DROP", "Filters": [flt("KEEP", "MEETS_ANY",
                                                 {"UriCondition": {"Path": "/"}})]},
     "LoggingConfiguration.LoggingFilter.Filters[0].Conditions[0]: must hold one "
     "ActionCondition or LabelNameCondition"),
    ({"DefaultBehavior": "DROP", "Filters": [flt("KEEP", "MEETS_ANY", action("BLOCK"))],
      "Sampling": 0.5}, "LoggingConfiguration.LoggingFilter: unsupported field 'Sampling'"),
])
def test_a_bad_filter_names_its_json_path(tmp_path: Path, config: dict[str, Any],
                                          message: str) -> None:
    path = tmp_path / "logging.json"
    path.write_text(json.dumps({"LoggingConfiguration": {
        "ResourceArn": "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/x/1",
        "LogDestinationConfigs": ["arn:aws:logs:us-east-1:123456789012:log-group:aws-waf-logs-x"],
        "LoggingFilter": config}}))
    with pytest.raises(ValueError) as info:
        WafLoggingConfiguration.load(path)
    assert str(info.value).startswith(message)


def test_a_bare_configuration_and_unknown_redacted_fields(tmp_path: Path) -> None:
    path = tmp_path / "logging.json"
    path.write_text(json.dumps({"RedactedFields": [{"QueryString": {}}]}))
    loaded = WafLoggingConfiguration.load(path)
    assert loaded.filter is None and loaded.redacted_fields == ({"QueryString": {}},)
    path.write_text(json.dumps({"RedactedFields": [{"JsonBody": {}}]}))
    with pytest.raises(ValueError, match=r"RedactedFields: unsupported RedactedFields entry"):
        WafLoggingConfiguration.load(path)


def test_the_gateway_writes_only_kept_records_with_aws_redaction(
        tmp_path: Path, clock: FrozenClock) -> None:
    from tests.waf.webacl.util import byte_match, rule, web_acl

    (tmp_path / "webacl.json").write_text(json.dumps(web_acl(
        rule("no-evil", byte_match({"UriPath": {}}, "evil"), priority=1))))
    (tmp_path / "waf-logging.json").write_text(json.dumps({"LoggingConfiguration": {
        "RedactedFields": [{"QueryString": {}}],
        "LoggingFilter": KEEP_BLOCK_AND_COUNT}}))
    app = app_for(tmp_path, clock, webacl={"file": "webacl.json"},
                  logging={"waf_logging_configuration": "waf-logging.json"})
    for path in ("/prod/pets/1", "/prod/pets/evil", "/prod/pets/2"):
        asyncio.run(call(app, "GET", path, query="token=s3cr3t"))
    writer = app.gateway.ctx.resources["log_writer"]
    writer.flush()
    stats = writer.stats()
    asyncio.run(app.gateway.close())
    waf = records(tmp_path, "waf")
    assert [(r["action"], r["terminatingRuleId"]) for r in waf] == [("BLOCK", "no-evil")]
    SCHEMA.validate(waf[0])
    assert waf[0]["httpRequest"]["args"] == "REDACTED"
    assert len(records(tmp_path, "access")) == 3   # the access log is not the WAF's
    assert (stats.filtered, stats.failed, stats.written) == (2, 0, 4)


def test_a_bad_logging_configuration_is_a_config_error(tmp_path: Path,
                                                       clock: FrozenClock) -> None:
    from bastion.errors import ConfigError

    (tmp_path / "waf-logging.json").write_text(json.dumps({"LoggingFilter": {
        "DefaultBehavior": "MAYBE", "Filters": [flt("KEEP", "MEETS_ANY", action("BLOCK"))]}}))
    with pytest.raises(ConfigError) as info:
        app_for(tmp_path, clock, logging={"waf_logging_configuration": "waf-logging.json"})
    assert info.value.key == "logging.waf_logging_configuration"
    assert "LoggingFilter.DefaultBehavior: must be KEEP or DROP, got 'MAYBE'" in str(info.value)
