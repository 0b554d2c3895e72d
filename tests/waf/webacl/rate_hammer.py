"""One gateway process for the rate e2e test: evaluates N requests from one client IP against a
Web ACL whose rate-based rule counts in the shared Redis, prints how many were admitted.

Usage: rate_hammer.py REDIS_URI LIMIT HITS NOW   (reads "go" on stdin before starting)
"""

from __future__ import annotations

import asyncio
import sys

from bastion.clock import FrozenClock
from bastion.state import open_storage
from bastion.waf.webacl import WafRequest, WebAclEvaluator, parse_web_acl
from tests.waf.webacl.util import rule, web_acl


async def main(uri: str, limit: int, hits: int, now: float) -> int:
    clock = FrozenClock(now)
    store = open_storage(uri, clock)
    doc = web_acl(rule("rate", {"RateBasedStatement": {
        "Limit": limit, "EvaluationWindowSec": 60, "AggregateKeyType": "IP"}}))
    ev = WebAclEvaluator(parse_web_acl(doc), clock=clock, store=store)
    print("ready", flush=True)
    sys.stdin.readline()
    admitted = 0
    r = WafRequest("GET", "/pets", "", (("Host", "h"),), b"", "203.0.113.77")
    for _ in range(hits):
        if (await ev.evaluate(r)).action == "ALLOW":
            admitted += 1
    await store.close()
    return admitted


if __name__ == "__main__":
    uri, limit, hits, now = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    print(asyncio.run(main(uri, limit, hits, now)), flush=True)
