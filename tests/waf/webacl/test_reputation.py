"""IP reputation lists: formats, 250k entries, O(log n) lookups, reload on change."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

from bastion.clock import FrozenClock
from bastion.waf.webacl import IPReputationList, ManagedCatalog
from bastion.waf.webacl.ipranges import parse_interval
from bastion.waf.webacl.reputation import parse_list
from tests.waf.webacl.util import build, req, run, vis, web_acl

SPAMHAUS = """; Spamhaus DROP List 2026/11/25 - (c) 2026 The Spamhaus Project
; Last-Modified: Tue, 25 Nov 2026 10:00:00 GMT
1.10.16.0/20 ; SBL256894
2.56.192.0/22 ; SBL459831
"""
FIREHOL = """#
# firehol_level1 netset
#
192.0.2.0/24
198.51.100.7
2001:db8:bad::/48
not-an-address
"""


def test_formats() -> None:
    good, bad = parse_list(SPAMHAUS.splitlines())
    assert good == [parse_interval("1.10.16.0/20"), parse_interval("2.56.192.0/22")]
    assert bad == 0
    good, bad = parse_list(FIREHOL.splitlines())
    assert good == [parse_interval(x) for x in ("192.0.2.0/24", "198.51.100.7",
                                                "2001:db8:bad::/48")]
    assert bad == 1


def _bump(p: Path) -> None:
    st = p.stat()
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_reload_on_change_at_most_every_n_seconds(tmp_path: Path) -> None:
    clock = FrozenClock()
    f = tmp_path / "drop.txt"
    f.write_text(SPAMHAUS)
    lst = IPReputationList("AWSManagedIPReputationList", [str(f)], clock, check_every=10)
    assert "1.10.16.1" in lst and "192.0.2.1" not in lst
    f.write_text(FIREHOL)
    _bump(f)
    assert "192.0.2.1" not in lst  # not checked yet
    clock.advance(10)
    assert "192.0.2.1" in lst and "1.10.16.1" not in lst
    assert lst.reloads == 2 and lst.invalid_lines == 1
    f.unlink()  # a missing file keeps the previous table
    clock.advance(10)
    assert "192.0.2.1" in lst


def test_fast_parser_agrees_with_ipaddress() -> None:
    import ipaddress

    for text in ("10.1.2.3/8", "10.1.2.3", "0.0.0.0/0", "2001:db8::1/33", "::/0", "::1"):
        net = ipaddress.ip_network(text, strict=False)
        assert parse_interval(text) == (net.version, int(net.network_address),
                                        int(net.broadcast_address))
    for bad in ("10.1.2.3/33", "10.1.2/8", "x", "::1/129", "1.2.3.4/-1", "1.2.3.4/ 8"):
        assert parse_interval(bad) is None


def test_250k_entries_lookup_is_logarithmic(tmp_path: Path) -> None:
    rnd = random.Random(7)
    nets = {f"{rnd.randrange(1, 224)}.{rnd.randrange(256)}.{rnd.randrange(256)}.0/24"
            for _ in range(200_000)}
    v6 = {f"2001:db8:{rnd.randrange(65536):x}:{rnd.randrange(65536):x}::/64"
          for _ in range(50_000)}
    f = tmp_path / "big.netset"
    f.write_text("\n".join(sorted(nets | v6)) + "\n")
    lst = IPReputationList("AnonymousIPList", [str(f)], FrozenClock())
    table = lst.ranges()
    assert table.size == len(nets) + len(v6) >= 240_000
    probe_in = [n.split("/")[0][:-1] + "77" for n in list(nets)[:1000]]
    probe_out = ["230.1.2.3", "2001:db9::1"]
    assert all(ip in table for ip in probe_in)
    assert not any(ip in table for ip in probe_out)
    t0 = time.perf_counter()
    for _ in range(20):
        for ip in probe_in:
            _ = ip in table
    per_lookup = (time.perf_counter() - t0) / 20_000
    assert per_lookup < 50e-6  # bisect: microseconds, not a scan of 250k entries


def test_managed_ip_reputation_group(tmp_path: Path) -> None:
    clock = FrozenClock()
    f = tmp_path / "rep.txt"
    f.write_text("192.0.2.0/24\n")
    ddos = tmp_path / "ddos.txt"
    ddos.write_text("198.51.100.0/24\n")
    cat = ManagedCatalog(ip_lists={
        "AWSManagedIPReputationList": IPReputationList("rep", [str(f)], clock, check_every=5),
        "AWSManagedIPDDoSList": IPReputationList("ddos", [str(ddos)], clock)})
    doc = web_acl({"Name": "rep", "Priority": 0, "OverrideAction": {"None": {}},
                   "Statement": {"ManagedRuleGroupStatement": {
                       "VendorName": "AWS", "Name": "AWSManagedRulesAmazonIpReputationList"}},
                   "VisibilityConfig": vis("rep")})
    acl, ev = build(doc, clock=clock, managed=cat)
    assert [i.message for i in acl.issues if "not configured" in i.message] == [
        "IP list AWSManagedReconnaissanceList is not configured: its rule never matches"]
    r = run(ev, req(ip="192.0.2.50"))
    assert r.action == "BLOCK"
    assert r.labels == ["awswaf:managed:aws:amazon-ip-list:AWSManagedIPReputationList"]
    r = run(ev, req(ip="198.51.100.9"))  # the DDoS list only counts, as on AWS
    assert r.action == "ALLOW"
    assert r.rule_groups[0]["nonTerminatingMatchingRules"][0]["ruleId"] == "AWSManagedIPDDoSList"
    assert run(ev, req(ip="203.0.113.1")).action == "ALLOW"
    f.write_text("203.0.113.0/24\n")
    _bump(f)
    clock.advance(5)
    assert run(ev, req(ip="203.0.113.1")).action == "BLOCK"  # reloaded without a restart
    assert run(ev, req(ip="192.0.2.50")).action == "ALLOW"
