"""Small builders for Web ACL tests: WAFv2 JSON fragments and requests."""

from __future__ import annotations

import asyncio
from typing import Any

from bastion.clock import FrozenClock
from bastion.waf.webacl import (
    Evaluation,
    ManagedCatalog,
    TokenService,
    WafRequest,
    WebAcl,
    WebAclEvaluator,
    parse_web_acl,
)

ACCOUNT = "111122223333"
ARN = f"arn:aws:wafv2:us-east-1:{ACCOUNT}:regional/webacl/test-acl/a1b2c3d4-5678"
NS = f"awswaf:{ACCOUNT}:webacl:test-acl:"
Json = dict[str, Any]


def vis(name: str) -> Json:
    return {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": name}


def tt(*types: str) -> list[Json]:
    return [{"Priority": i, "Type": t} for i, t in enumerate(types or ("NONE",))]


def rule(name: str, statement: Json, action: str = "Block", priority: int = 0,
         **extra: Any) -> Json:
    r: Json = {"Name": name, "Priority": priority, "Statement": statement,
               "Action": {action: {}}, "VisibilityConfig": vis(name)}
    r.update(extra)
    return r


def web_acl(*rules: Json, default: str = "Allow", **extra: Any) -> Json:
    doc: Json = {"Name": "test-acl", "Id": "a1b2c3d4-5678-90ab-cdef-000000000000", "ARN": ARN,
                 "DefaultAction": {default: {}}, "Rules": list(rules),
                 "VisibilityConfig": vis("test-acl")}
    doc.update(extra)
    return doc


def byte_match(field: Json, search: str, pos: str = "CONTAINS", *types: str) -> Json:
    return {"ByteMatchStatement": {"SearchString": search, "FieldToMatch": field,
                                   "PositionalConstraint": pos, "TextTransformations": tt(*types)}}


def req(method: str = "GET", path: str = "/", query: str = "",
        headers: tuple[tuple[str, str], ...] = (("Host", "api.example.com"),
                                                 ("User-Agent", "pytest")),
        body: bytes = b"", ip: str = "203.0.113.9") -> WafRequest:
    return WafRequest(method, path, query, headers, body, ip)


def build(doc: Json, *, clock: FrozenClock | None = None, managed: ManagedCatalog | None = None,
          **kw: Any) -> tuple[WebAcl, WebAclEvaluator]:
    acl = parse_web_acl(doc, managed=managed, **kw)
    clock = clock or FrozenClock()
    ev = WebAclEvaluator(acl, clock=clock, tokens=TokenService(b"0123456789abcdef-secret", clock))
    return acl, ev


def run(ev: WebAclEvaluator, r: WafRequest) -> Evaluation:
    return asyncio.run(ev.evaluate(r))


def matches(statement: Json, r: WafRequest, **kw: Any) -> bool:
    _, ev = build(web_acl(rule("r", statement)), **kw)
    return run(ev, r).action == "BLOCK"
