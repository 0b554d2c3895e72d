"""A Web ACL as `aws wafv2 get-web-acl` prints it (written from the WAFv2 model, checked against
botocore's validator) loads and behaves as AWS documents; unsupported fields are reported."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from bastion.clock import FrozenClock
from bastion.errors import ConfigErrors
from bastion.waf.webacl import (
    TOKEN_COOKIE,
    TokenService,
    WafRequest,
    WebAclEvaluator,
    load_web_acl,
    parse_web_acl,
)
from tests.waf.webacl.util import run

DATA = Path(__file__).with_name("data")
ACL = DATA / "petstore-prod.webacl.json"
RESOURCES: dict[str, Any] = {
    "ip_sets": [DATA / "office-allow.ipset.json", DATA / "blocked-clients.ipset.json"],
    "regex_sets": [DATA / "scanner-paths.regexpatternset.json"],
}
UA = ("User-Agent", "petstore-app/2.1")


def r(method: str = "GET", path: str = "/pets", query: str = "", headers: tuple[Any, ...] = (),
      body: bytes = b"", ip: str = "203.0.113.20") -> WafRequest:
    return WafRequest(method, path, query, (("Host", "api.petstore.example"), UA, *headers),
                      body, ip)


@pytest.fixture
def waf() -> tuple[WebAclEvaluator, FrozenClock]:
    clock = FrozenClock()
    acl = load_web_acl(ACL, **RESOURCES)
    return WebAclEvaluator(acl, clock=clock, tokens=TokenService(b"k" * 32, clock)), clock


def test_the_export_is_valid_against_the_wafv2_model() -> None:
    import botocore.session
    from botocore.validate import ParamValidator

    model = botocore.session.get_session().get_service_model("wafv2")
    report = ParamValidator().validate(json.loads(ACL.read_text()),
                                       model.shape_for("GetWebACLResponse"))
    assert not report.has_errors(), report.generate_report()


def test_loads_with_only_warnings() -> None:
    acl = load_web_acl(ACL, **RESOURCES)
    assert acl.name == "petstore-prod" and acl.body_limit == 32768
    assert {i.severity for i in acl.issues} == {"warning"}  # reputation lists not configured
    assert [r.name for r in acl.rules][:3] == ["AllowOffice", "BlockListedClients",
                                               "AWS-AWSManagedRulesAmazonIpReputationList"]


def test_clean_request_passes(waf: tuple[WebAclEvaluator, FrozenClock]) -> None:
    res = run(waf[0], r())
    assert (res.action, res.terminating_rule_id) == ("ALLOW", "Default_Action")


def test_office_allow_list_wins_with_inserted_header(
        waf: tuple[WebAclEvaluator, FrozenClock]) -> None:
    res = run(waf[0], r(query="id=1%27%20or%20%271%27%3D%271", ip="192.0.2.5"))
    assert (res.action, res.terminating_rule_id) == ("ALLOW", "AllowOffice")
    assert res.inserted_headers == [("x-amzn-waf-trusted", "office")]


def test_forwarded_block_list_custom_response(waf: tuple[WebAclEvaluator, FrozenClock]) -> None:
    res = run(waf[0], r(headers=(("X-Forwarded-For", "2001:db8:bad::7, 10.0.0.1"),)))
    assert res.terminating_rule_id == "BlockListedClients"
    assert res.response is not None
    assert (res.response.status, res.response.body, res.response.headers) == (
        403, b'{"message":"Your client is blocked"}', (("x-blocked-by", "bastion"),))


def test_crs_overrides(waf: tuple[WebAclEvaluator, FrozenClock]) -> None:
    ev = waf[0]
    no_ua = WafRequest("GET", "/pets", "", (("Host", "h"),), b"", "203.0.113.20")
    assert run(ev, no_ua).rule_groups[0]["terminatingRule"]["ruleId"] == "NoUserAgent_HEADER"
    bot = WafRequest("GET", "/pets", "", (("User-Agent", "Nikto/2.5"),), b"", "203.0.113.20")
    res = run(ev, bot)
    assert res.response is not None and res.response.status == 406
    # 20 KB body: SizeRestrictions_BODY is excluded (counted), the 32 KB rule lets it through
    res = run(ev, r("POST", body=b"{" + b"a" * 20000 + b"}"))
    assert res.action == "ALLOW"
    assert res.rule_groups[0]["excludedRules"] == [
        {"exclusionType": "EXCLUDED_AS_COUNT", "ruleId": "SizeRestrictions_BODY"}]
    assert run(ev, r("POST", body=b"a" * 40000)).terminating_rule_id == "LargeBody"
    # XSS in the body is overridden to Count
    res = run(ev, r("POST", body=b"<script>alert(1)</script>"))
    assert res.action == "ALLOW"
    assert res.rule_groups[0]["nonTerminatingMatchingRules"][0] == {
        "ruleId": "CrossSiteScripting_BODY", "action": "COUNT", "ruleMatchDetails": [
            {"conditionType": "XSS", "location": "BODY",
             "matchedData": ["<script>alert(1)</script>"]}],
        "overriddenAction": "BLOCK"}


def test_sqli_group_in_count_mode_labels_and_a_later_rule_blocks(
        waf: tuple[WebAclEvaluator, FrozenClock]) -> None:
    ev = waf[0]
    res = run(ev, r(query="id=1%27%20or%20%271%27%3D%271"))
    assert (res.action, res.terminating_rule_id) == ("BLOCK", "BlockSQLiLabelled")
    assert "awswaf:managed:aws:sql-database:SQLi_QueryArguments" in res.labels
    assert res.non_terminating[0]["ruleId"] == "AWS-AWSManagedRulesSQLiRuleSet"
    # the scope-down keeps /health out of the SQLi group
    assert run(ev, r(path="/health", query="id=1%27%20or%20%271%27%3D%271")).action == "ALLOW"


def test_regex_pattern_set_and_label(waf: tuple[WebAclEvaluator, FrozenClock]) -> None:
    res = run(waf[0], r(path="/WP-LOGIN.php"))
    assert res.terminating_rule_id == "ScannerPaths"
    assert res.labels == ["awswaf:123456789012:webacl:petstore-prod:scanner:path"]
    assert run(waf[0], r(path="/pets/index.jsp")).terminating_rule_id == "ScannerPaths"


def test_login_captcha(waf: tuple[WebAclEvaluator, FrozenClock]) -> None:
    ev, clock = waf
    res = run(ev, r("POST", "/LOGIN"))
    assert res.action == "CAPTCHA" and res.response is not None
    assert res.response.status == 405
    assert ev.tokens is not None
    tok = ev.tokens.issue(captcha=clock.time())
    res = run(ev, r("POST", "/login", headers=(("Cookie", f"{TOKEN_COOKIE}={tok}"),)))
    assert res.action == "ALLOW"
    clock.advance(599)
    assert run(ev, r("POST", "/login", headers=(("Cookie", f"{TOKEN_COOKIE}={tok}"),))
               ).action == "ALLOW"  # the rule's 600 s immunity, not the Web ACL's 300 s
    clock.advance(2)
    assert run(ev, r("POST", "/login", headers=(("Cookie", f"{TOKEN_COOKIE}={tok}"),))
               ).action == "CAPTCHA"


def test_rate_limit_with_custom_keys(waf: tuple[WebAclEvaluator, FrozenClock]) -> None:
    ev, clock = waf
    key = (("X-Api-Key", "k-123"),)
    got = [run(ev, r(query="tenant=Acme", headers=key, ip=f"198.51.100.{i % 200}")).action
           for i in range(101)]
    assert got == ["ALLOW"] * 100 + ["BLOCK"]
    res = run(ev, r(query="tenant=ACME", headers=key))
    assert res.response is not None and res.response.status == 429
    assert res.rate_based == [{
        "rateBasedRuleId": "petstore-prod:ApiKeyRateLimit", "rateBasedRuleName": "ApiKeyRateLimit",
        "limitKey": "CUSTOMKEYS", "maxRateAllowed": 100, "evaluationWindowSec": "120",
        "customValues": [{"key": "HEADER", "name": "x-api-key", "value": "k-123"},
                         {"key": "QUERY_ARGUMENT", "name": "tenant", "value": "acme"}]}]
    assert "awswaf:123456789012:webacl:petstore-prod:ratelimit:apikey" in res.labels
    assert run(ev, r(query="tenant=other", headers=key)).action == "ALLOW"
    clock.advance(120)
    assert run(ev, r(query="tenant=acme", headers=key)).action == "ALLOW"


def test_log_record(waf: tuple[WebAclEvaluator, FrozenClock]) -> None:
    ev = waf[0]
    req = r(path="/wp-admin/", query="a=1")
    res = run(ev, req)
    rec = res.to_log_record(web_acl_arn=ev.acl.arn, request=req, timestamp_ms=1700000000000)
    assert rec["terminatingRuleId"] == "ScannerPaths"
    assert rec["terminatingRuleType"] == "REGULAR" and rec["action"] == "BLOCK"
    assert rec["httpRequest"]["uri"] == "/wp-admin/" and rec["httpRequest"]["args"] == "a=1"
    assert rec["labels"] == [{"name": "awswaf:123456789012:webacl:petstore-prod:scanner:path"}]
    assert rec["formatVersion"] == 1 and rec["timestamp"] == 1700000000000
    json.dumps(rec)  # serialisable as one log line


def _doc() -> dict[str, Any]:
    return copy.deepcopy(json.loads(ACL.read_text()))


def _resources() -> dict[str, Any]:
    return {k: [json.loads(Path(p).read_text()) for p in v] for k, v in RESOURCES.items()}


def test_unsupported_fields_are_reported_with_their_paths() -> None:
    doc = _doc()
    acl = doc["WebACL"]
    acl["DataProtectionConfig"] = {"DataProtections": [{"Field": {"FieldType": "QUERY_STRING"},
                                                        "Action": "HASH"}]}
    acl["Rules"][7]["Statement"]["RegexPatternSetReferenceStatement"]["FieldToMatch"] = {
        "JA3Fingerprint": {"FallbackBehavior": "NO_MATCH"}}
    acl["Rules"].append({"Name": "Asn", "Priority": 50, "Action": {"Block": {}},
                         "Statement": {"AsnMatchStatement": {"AsnList": [64496]}},
                         "VisibilityConfig": acl["VisibilityConfig"]})
    acl["Rules"][0]["Statment"] = {}  # a typo AWS would reject
    with pytest.raises(ConfigErrors) as exc:
        parse_web_acl(doc, file="acl.json", **_resources())
    found = {(e.key, e.message.split(":")[0]) for e in exc.value.errors}
    assert found == {
        ("WebACL.DataProtectionConfig", "unsupported"),
        ("WebACL.Rules[7].Statement.RegexPatternSetReferenceStatement.FieldToMatch"
         ".JA3Fingerprint", "unsupported"),
        ("WebACL.Rules[12].Statement.AsnMatchStatement", "unsupported"),
        ("WebACL.Rules[0].Statment", "error"),
    }
    assert all(e.file == "acl.json" for e in exc.value.errors)
    # non-strict: the unsupported parts are kept as findings, errors still stop the load
    del acl["Rules"][0]["Statment"]
    loose = parse_web_acl(doc, strict=False, **_resources())
    assert {i.severity for i in loose.issues} == {"unsupported", "warning"}


@pytest.mark.parametrize(("mutate", "path", "message"), [
    (lambda a: a["Rules"][9]["Statement"]["RateBasedStatement"].update(Limit=5),
     "WebACL.Rules[9].Statement.RateBasedStatement.Limit", "outside"),
    (lambda a: a["Rules"][11]["Statement"]["SizeConstraintStatement"].update(
        ComparisonOperator="BIGGER"),
     "WebACL.Rules[11].Statement.SizeConstraintStatement.ComparisonOperator", "not one of"),
    (lambda a: a["Rules"][8]["Statement"]["AndStatement"]["Statements"][0][
        "ByteMatchStatement"]["TextTransformations"].append({"Priority": 0, "Type": "MD5"}),
     "WebACL.Rules[8].Statement.AndStatement.Statements[0].ByteMatchStatement"
     ".TextTransformations[1].Priority", "duplicate"),
    (lambda a: a["Rules"][1].update(Priority=0), "WebACL.Rules[1].Priority", "also used"),
    (lambda a: a["Rules"][1]["Action"]["Block"]["CustomResponse"].update(
        CustomResponseBodyKey="nope"),
     "WebACL.Rules[1].Action.Block.CustomResponse.CustomResponseBodyKey", "no CustomResponse"),
    (lambda a: a["Rules"][7]["Statement"]["RegexPatternSetReferenceStatement"].update(
        ARN="arn:aws:wafv2:eu-west-1:1:regional/regexpatternset/x/y"),
     "WebACL.Rules[7].Statement.RegexPatternSetReferenceStatement.ARN", "not supplied"),
    (lambda a: a["Rules"][3].update(Action={"Block": {}}), "WebACL.Rules[3].Action",
     "OverrideAction"),
    (lambda a: a["Rules"][8]["Statement"]["AndStatement"]["Statements"][0][
        "ByteMatchStatement"].update(SearchString="not base64!"),
     "WebACL.Rules[8].Statement.AndStatement.Statements[0].ByteMatchStatement.SearchString",
     "not base64"),
])
def test_invalid_documents_are_errors_with_paths(mutate: Any, path: str, message: str) -> None:
    doc = _doc()
    mutate(doc["WebACL"])
    with pytest.raises(ConfigErrors) as exc:
        parse_web_acl(doc, **_resources())
    assert any(e.key == path and message in e.message for e in exc.value.errors), [
        e.render() for e in exc.value.errors]


def test_bare_object_and_bundle_forms() -> None:
    doc = _doc()
    bare = doc["WebACL"]
    # the console's JSON view shows SearchString as plain text
    for st in bare["Rules"][8]["Statement"]["AndStatement"]["Statements"]:
        st["ByteMatchStatement"]["SearchString"] = "POST" if "Method" in st[
            "ByteMatchStatement"]["FieldToMatch"] else "/login"
    res = _resources()
    acl = parse_web_acl(bare, **res, search_strings="plain")
    ev = WebAclEvaluator(acl, clock=FrozenClock())
    assert run(ev, r("POST", "/login")).action == "CAPTCHA"
    bundle = {"WebACL": bare, "IPSets": res["ip_sets"], "RegexPatternSets": res["regex_sets"]}
    acl2 = parse_web_acl(bundle, search_strings="plain")
    assert len(acl2.rules) == len(acl.rules)
