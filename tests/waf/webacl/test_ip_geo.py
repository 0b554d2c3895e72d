from __future__ import annotations

from typing import Any

import pytest

from bastion.waf.webacl import IPRanges
from tests.waf.webacl.util import build, req, rule, run, web_acl

SET4: dict[str, Any] = {"Name": "bad4", "Id": "11111111-1111-1111-1111-111111111111",
        "ARN": "arn:aws:wafv2:us-east-1:111122223333:regional/ipset/bad4/1111",
        "IPAddressVersion": "IPV4", "Addresses": ["192.0.2.0/24", "198.51.100.7/32"]}
SET6: dict[str, Any] = {"IPSet": {"Name": "bad6", "Id": "22222222-2222-2222-2222-222222222222",
                  "ARN": "arn:aws:wafv2:us-east-1:111122223333:regional/ipset/bad6/2222",
                  "IPAddressVersion": "IPV6", "Addresses": ["2001:db8::/32"]},
        "LockToken": "33333333-3333-3333-3333-333333333333"}


def ipset_rule(arn: str, fwd: dict[str, Any] | None = None) -> dict[str, Any]:
    st: dict[str, Any] = {"ARN": arn}
    if fwd:
        st["IPSetForwardedIPConfig"] = fwd
    return rule("ip", {"IPSetReferenceStatement": st})


@pytest.mark.parametrize(("ip", "want"), [
    ("192.0.2.1", True), ("192.0.2.255", True), ("192.0.3.0", False),
    ("198.51.100.7", True), ("198.51.100.8", False), ("::ffff:192.0.2.9", True),
    ("2001:db8::1", True), ("2001:db9::1", False), ("not-an-ip", False),
])
def test_ip_set_reference_v4_v6(ip: str, want: bool) -> None:
    doc = web_acl(ipset_rule(SET4["ARN"]),
                  {**ipset_rule(SET6["IPSet"]["ARN"]), "Name": "ip6", "Priority": 1})
    _, ev = build(doc, ip_sets=[SET4, SET6])
    assert (run(ev, req(ip=ip)).action == "BLOCK") is want


@pytest.mark.parametrize(("xff", "position", "fallback", "want"), [
    ("192.0.2.5, 10.0.0.1", "FIRST", "NO_MATCH", True),
    ("192.0.2.5, 10.0.0.1", "LAST", "NO_MATCH", False),
    ("10.0.0.1, 192.0.2.5", "LAST", "NO_MATCH", True),
    ("10.0.0.1, 10.0.0.2, 192.0.2.5", "ANY", "NO_MATCH", True),
    ("garbage", "FIRST", "MATCH", True),
    ("garbage", "FIRST", "NO_MATCH", False),
    (None, "FIRST", "MATCH", False),  # header absent: the rule does not apply at all
])
def test_ip_set_forwarded(xff: str | None, position: str, fallback: str, want: bool) -> None:
    fwd = {"HeaderName": "X-Forwarded-For", "FallbackBehavior": fallback, "Position": position}
    _, ev = build(web_acl(ipset_rule(SET4["ARN"], fwd)), ip_sets=[SET4])
    headers: tuple[tuple[str, str], ...] = (("Host", "h"),)
    if xff is not None:
        headers += (("X-Forwarded-For", xff),)
    assert (run(ev, req(headers=headers, ip="10.9.9.9")).action == "BLOCK") is want


def test_ip_ranges_merge_and_bounds() -> None:
    r = IPRanges.from_strings(["10.0.0.0/24", "10.0.1.0/24", "10.0.0.128/25", "0.0.0.0/32",
                               "255.255.255.255/32", "::/128"])
    assert len(r) == 4  # two /24 merged, /25 inside
    for ip in ("10.0.0.0", "10.0.1.255", "0.0.0.0", "255.255.255.255", "::"):
        assert ip in r
    for ip in ("10.0.2.0", "9.255.255.255", "::1"):
        assert ip not in r


class DictGeo:
    def __init__(self, table: dict[str, str]) -> None:
        self.table = table

    def country(self, ip: str) -> str | None:
        return self.table.get(ip)


def test_geo_match_from_database_and_header_and_forwarded() -> None:
    from bastion.clock import FrozenClock
    from bastion.waf.webacl import WebAclEvaluator, parse_web_acl

    geo = {"GeoMatchStatement": {"CountryCodes": ["KP", "RU"]}}
    acl = parse_web_acl(web_acl(rule("geo", geo)))
    ev = WebAclEvaluator(acl, clock=FrozenClock(), geo=DictGeo({"203.0.113.9": "RU"}))
    res = run(ev, req())
    assert res.action == "BLOCK"
    assert "awswaf:clientip:geo:country:RU" in res.labels
    assert run(ev, req(ip="198.51.100.1")).action == "ALLOW"
    # a trusted proxy's country header
    ev2 = WebAclEvaluator(acl, clock=FrozenClock(), geo_header="CloudFront-Viewer-Country")
    assert run(ev2, req(headers=(("CloudFront-Viewer-Country", "KP"),))).action == "BLOCK"
    assert run(ev2, req(headers=(("CloudFront-Viewer-Country", "FR"),))).action == "ALLOW"
    # forwarded IP
    fgeo = {"GeoMatchStatement": {"CountryCodes": ["RU"], "ForwardedIPConfig": {
        "HeaderName": "X-Forwarded-For", "FallbackBehavior": "MATCH"}}}
    acl3 = parse_web_acl(web_acl(rule("geo", fgeo)))
    ev3 = WebAclEvaluator(acl3, clock=FrozenClock(), geo=DictGeo({"192.0.2.1": "RU"}))
    res3 = run(ev3, req(headers=(("X-Forwarded-For", "192.0.2.1"),), ip="10.0.0.1"))
    assert res3.action == "BLOCK"
    assert "awswaf:forwardedip:geo:country:RU" in res3.labels
    assert run(ev3, req(headers=(("X-Forwarded-For", "nonsense"),))).action == "BLOCK"


def test_geo_match_with_a_real_maxmind_database(tmp_path: Any) -> None:
    writer = pytest.importorskip("mmdb_writer")
    netaddr = pytest.importorskip("netaddr")
    from bastion.clock import FrozenClock
    from bastion.waf.webacl import MaxMindCountryLookup, WebAclEvaluator, parse_web_acl

    db = writer.MMDBWriter(ip_version=6, ipv4_compatible=True,
                           database_type="GeoLite2-Country")
    db.insert_network(netaddr.IPSet(["192.0.2.0/24"]), {"country": {"iso_code": "NZ"}})
    db.insert_network(netaddr.IPSet(["2001:db8::/32"]),
                      {"registered_country": {"iso_code": "FR"}})
    path = tmp_path / "country.mmdb"
    db.to_db_file(str(path))
    geo = MaxMindCountryLookup(str(path))
    assert geo.country("192.0.2.77") == "NZ"
    assert geo.country("2001:db8::1") == "FR"
    assert geo.country("198.51.100.1") is None
    assert geo.country("not an ip") is None
    acl = parse_web_acl(web_acl(rule("geo", {"GeoMatchStatement": {"CountryCodes": ["NZ"]}})))
    ev = WebAclEvaluator(acl, clock=FrozenClock(), geo=geo)
    assert run(ev, req(ip="192.0.2.77")).action == "BLOCK"
    assert run(ev, req(ip="2001:db8::1")).action == "ALLOW"
