"""Actions, custom responses, request headers, labels, Count mode, CAPTCHA/Challenge tokens."""

from __future__ import annotations

import dataclasses

import pytest

from bastion.clock import FrozenClock
from bastion.waf.webacl import TOKEN_COOKIE
from tests.waf.webacl.util import NS, build, byte_match, req, rule, run, web_acl

ADMIN = byte_match({"UriPath": {}}, "/admin", "STARTS_WITH")
ANY = byte_match({"Method": {}}, "GET", "EXACTLY")


def test_default_actions() -> None:
    _, ev = build(web_acl(default="Allow"))
    r = run(ev, req())
    assert (r.action, r.terminating_rule_id, r.terminating_rule_type) == (
        "ALLOW", "Default_Action", "REGULAR")
    _, ev = build(web_acl(default="Block"))
    assert run(ev, req()).action == "BLOCK"


def test_priority_order_not_list_order() -> None:
    doc = web_acl(rule("late-block", ANY, "Block", priority=10),
                  rule("early-allow", ANY, "Allow", priority=1))
    _, ev = build(doc)
    r = run(ev, req())
    assert (r.action, r.terminating_rule_id) == ("ALLOW", "early-allow")


def test_count_never_blocks_but_records_and_labels() -> None:
    doc = web_acl(rule("watch", ADMIN, "Count", RuleLabels=[{"Name": "tuning:admin"}]),
                  default="Allow")
    acl, ev = build(doc)
    r = run(ev, req(path="/admin/users"))
    assert r.action == "ALLOW"
    assert r.non_terminating == [{"ruleId": "watch", "action": "COUNT", "ruleMatchDetails": []}]
    assert r.labels == [NS + "tuning:admin"]
    assert ev.counters.get("test-acl", "", "watch", "CountedRequests") == 1
    assert ev.counters.get("test-acl", "", "ALL", "AllowedRequests") == 1


def test_label_flow_across_rules() -> None:
    doc = web_acl(
        rule("tag", ADMIN, "Count", priority=0, RuleLabels=[{"Name": "zone:admin"}]),
        rule("by-label", {"LabelMatchStatement": {"Scope": "LABEL", "Key": "zone:admin"}},
             priority=1),
        rule("by-ns", {"LabelMatchStatement": {"Scope": "NAMESPACE", "Key": "zone:"}}, "Count",
             priority=2),
    )
    _, ev = build(doc)
    r = run(ev, req(path="/admin"))
    assert (r.action, r.terminating_rule_id) == ("BLOCK", "by-label")
    assert run(ev, req(path="/pets")).action == "ALLOW"
    # fully qualified keys and namespaces
    doc2 = web_acl(
        rule("tag", ADMIN, "Count", priority=0, RuleLabels=[{"Name": "a:b:c"}]),
        rule("fq", {"LabelMatchStatement": {"Scope": "LABEL", "Key": NS + "a:b:c"}},
             priority=1),
    )
    _, ev2 = build(doc2)
    assert run(ev2, req(path="/admin")).terminating_rule_id == "fq"
    doc3 = web_acl(
        rule("tag", ADMIN, "Count", priority=0, RuleLabels=[{"Name": "a:b:c"}]),
        rule("ns", {"LabelMatchStatement": {"Scope": "NAMESPACE", "Key": NS + "a:"}},
             priority=1),
    )
    _, ev3 = build(doc3)
    assert run(ev3, req(path="/admin")).terminating_rule_id == "ns"
    # a label added later does not match an earlier rule
    doc4 = web_acl(
        rule("early", {"LabelMatchStatement": {"Scope": "LABEL", "Key": "x"}}, priority=0),
        rule("tag", ADMIN, "Count", priority=1, RuleLabels=[{"Name": "x"}]),
    )
    _, ev4 = build(doc4)
    assert run(ev4, req(path="/admin")).action == "ALLOW"


def test_custom_response_and_body() -> None:
    doc = web_acl(
        rule("deny", ADMIN, Action={"Block": {"CustomResponse": {
            "ResponseCode": 429, "CustomResponseBodyKey": "too_many",
            "ResponseHeaders": [{"Name": "Retry-After", "Value": "60"}]}}}),
        CustomResponseBodies={"too_many": {"ContentType": "APPLICATION_JSON",
                                           "Content": "{\"error\":\"slow down\"}"}})
    _, ev = build(doc)
    r = run(ev, req(path="/admin"))
    assert r.action == "BLOCK"
    assert r.response is not None
    assert (r.response.status, r.response.content_type, r.response.body) == (
        429, "application/json", b'{"error":"slow down"}')
    assert r.response.headers == (("Retry-After", "60"),)


def test_insert_headers_on_allow_and_count() -> None:
    doc = web_acl(
        rule("mark", ANY, Action={"Count": {"CustomRequestHandling": {
            "InsertHeaders": [{"Name": "seen", "Value": "1"}]}}}, priority=0),
        rule("ok", ANY, Action={"Allow": {"CustomRequestHandling": {
            "InsertHeaders": [{"Name": "tier", "Value": "gold"}]}}}, priority=1),
    )
    _, ev = build(doc)
    r = run(ev, req())
    assert r.inserted_headers == [("x-amzn-waf-seen", "1"), ("x-amzn-waf-tier", "gold")]


def test_captcha_and_challenge_token_flow() -> None:
    clock = FrozenClock()
    doc = web_acl(rule("cap", ADMIN, "Captcha", priority=0,
                       CaptchaConfig={"ImmunityTimeProperty": {"ImmunityTime": 120}}),
                  rule("chal", ANY, "Challenge", priority=1))
    _, ev = build(doc, clock=clock)
    r = run(ev, req())
    assert r.action == "CHALLENGE" and r.response is not None and r.response.status == 202
    assert r.challenge_response == {"responseCode": 202, "failureReason": "TOKEN_MISSING"}
    assert ev.tokens is not None
    ch_token = ev.tokens.issue(challenge=clock.time())
    cookie = (("Host", "h"), ("Cookie", f"{TOKEN_COOKIE}={ch_token}"))
    r = run(ev, req(headers=cookie))
    assert r.action == "ALLOW"
    assert r.non_terminating[0]["action"] == "CHALLENGE"
    # a challenge token does not satisfy a CAPTCHA
    r = run(ev, req(path="/admin", headers=cookie))
    assert r.action == "CAPTCHA" and r.response is not None and r.response.status == 405
    page = run(ev, dataclasses.replace(req(path="/admin"), request_id="9f1c<b>"))
    assert page.response is not None
    assert b"<p>Request ID: 9f1c&lt;b&gt;</p>" in page.response.body   # escaped, as sent
    cap_token = ev.tokens.issue(captcha=clock.time())
    cookie2 = (("Host", "h"), ("Cookie", f"{TOKEN_COOKIE}={cap_token}"))
    assert run(ev, req(path="/admin", headers=cookie2)).action == "ALLOW"
    clock.advance(121)  # CAPTCHA immunity is 120 s here; challenge keeps the default 300 s
    r = run(ev, req(path="/admin", headers=cookie2))
    assert (r.action, r.captcha_response) == ("CAPTCHA", {"responseCode": 405,
                                                          "failureReason": "TOKEN_EXPIRED"})
    forged = ch_token[:-1] + ("0" if ch_token[-1] != "0" else "1")
    r = run(ev, req(headers=(("Cookie", f"{TOKEN_COOKIE}={forged}"),)))
    assert r.challenge_response == {"responseCode": 202, "failureReason": "TOKEN_INVALID"}


def test_interstitial_page_sets_a_token_that_passes() -> None:
    clock = FrozenClock()
    _, ev = build(web_acl(rule("chal", ANY, "Challenge")), clock=clock)
    r = run(ev, req())
    assert r.response is not None and r.response.body is not None
    body = r.response.body.decode()
    token = body.split(f'{TOKEN_COOKIE}="+"', 1)[1].split('"', 1)[0]
    r2 = run(ev, req(headers=(("Cookie", f"{TOKEN_COOKIE}={token}"),)))
    assert r2.action == "ALLOW"


def test_counters_per_rule() -> None:
    _, ev = build(web_acl(rule("deny", ADMIN)))
    run(ev, req(path="/admin"))
    run(ev, req(path="/admin"))
    run(ev, req(path="/pets"))
    c = ev.counters
    assert c.get("test-acl", "", "deny", "BlockedRequests") == 2
    assert c.get("test-acl", "", "Default_Action", "AllowedRequests") == 1
    assert c.get("test-acl", "", "ALL", "BlockedRequests") == 2


ACTIONS = [
    # action JSON, final action, status of the response sent (None: the gateway's 403), stops
    ({"Allow": {}}, "ALLOW", None, True),
    ({"Block": {}}, "BLOCK", None, True),
    ({"Block": {"CustomResponse": {"ResponseCode": 451}}}, "BLOCK", 451, True),
    ({"Count": {}}, "ALLOW", None, False),
    ({"Captcha": {}}, "CAPTCHA", 405, True),
    ({"Challenge": {}}, "CHALLENGE", 202, True),
]


@pytest.mark.parametrize(("action", "final", "status", "stops"), ACTIONS)
def test_action_table(action: dict[str, object], final: str, status: int | None,
                      stops: bool) -> None:
    doc = web_acl(rule("first", ANY, Action=action, priority=0),
                  rule("second", ANY, "Count", priority=1), default="Allow")
    _, ev = build(doc)
    r = run(ev, req())
    assert r.action == final
    assert (r.response.status if r.response else None) == status
    reached_second = any(m["ruleId"] == "second" for m in r.non_terminating)
    assert reached_second is not stops
    assert r.terminating_rule_id == ("first" if stops else "Default_Action")


def test_default_block_with_custom_response() -> None:
    doc = web_acl(default="Block")
    doc["DefaultAction"] = {"Block": {"CustomResponse": {
        "ResponseCode": 404, "CustomResponseBodyKey": "nf",
        "ResponseHeaders": [{"Name": "x-why", "Value": "default"}]}}}
    doc["CustomResponseBodies"] = {"nf": {"ContentType": "TEXT_HTML", "Content": "<p>no</p>"}}
    _, ev = build(doc)
    r = run(ev, req())
    assert (r.action, r.terminating_rule_id) == ("BLOCK", "Default_Action")
    assert r.response is not None
    assert (r.response.status, r.response.body, r.response.content_type) == (
        404, b"<p>no</p>", "text/html")
