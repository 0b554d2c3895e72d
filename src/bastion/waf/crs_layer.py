"""The OWASP Core Rule Set in the gateway: a FIREWALL stage of its own (``waf.crs`` in
bastion.yaml), and the engine behind the Web ACL's managed "OWASP CRS" group.

    waf:
      crs:
        paranoia: 1                 # 1-4
        mode: blocking              # blocking | detection (score and log, never block)
        inbound_threshold: 5        # CRS's anomaly thresholds
        outbound_threshold: 4
        exclusions: [my-exclusions.conf]   # SecLang: SecRuleRemoveById, SecRuleUpdateTarget...
        path: /usr/share/modsecurity-crs   # default: Debian's modsecurity-crs package

The rules are never copied into the project: they come from ``path`` or from Debian's
``modsecurity-crs``. Every block is explained: the trace and the WAF log name each matched
rule with its message, the matched variable and (truncated, masked) value, and the scores.
"""

from __future__ import annotations

import re
from typing import Any

from bastion.config import Problems, Section
from bastion.gateway.gateway import GatewayContext
from bastion.pipeline import Exchange, Interruption, Phase, Request, Stage
from bastion.waf.seclang.inspect import CrsEngine, CrsResult
from bastion.waf.seclang.state_store import StateCollectionStore
from bastion.waf.webacl.model import CrsVerdict
from bastion.waf.webacl.request import WafRequest

__all__ = ["CrsStage", "crs_layer"]

_PL = re.compile(r'"Version"\s*:\s*"PL([1-4])"')


def _inspect(engine: CrsEngine, req: Request, paranoia: int) -> CrsResult:
    """The CRS stage's call: straight from the pipeline's request (no WafRequest built)."""
    query = req.query_string
    path = req.raw_path
    return engine.inspect(method=req.method, uri=f"{path}?{query}" if query else path,
                          headers=req.headers.items(), body=req.body,
                          client_ip=req.client_ip, http_version=req.http_version,
                          paranoia=paranoia)


def _inspect_waf(engine: CrsEngine, req: WafRequest, paranoia: int,
                 excluded: frozenset[str]) -> CrsResult:
    """The Web ACL managed group's call, on the Web ACL's view of the request."""
    query = req.query
    path = req.uri_path
    return engine.inspect(method=req.method, uri=f"{path}?{query}" if query else path,
                          headers=req.headers, body=req.body, client_ip=req.client_ip,
                          http_version=req.http_version, paranoia=paranoia,
                          excluded_ids=excluded)


def _scores(scores: dict[str, int]) -> str:
    """``anomaly_score=15 (xss_score=15)``: the total and the categories that scored, not the
    twenty TX counters (most of them zero) a block reason would otherwise carry into the log."""
    total = scores.get("anomaly_score", 0)
    parts = [f"{k}={v}" for k, v in scores.items()
             if v and k.endswith("_score") and not k.startswith(("anomaly_score",
                                                                   "inbound_", "outbound_",
                                                                   "executing_"))]
    return f"anomaly_score={total}" + (f" ({', '.join(parts)})" if parts else "")


def _details(result: CrsResult) -> list[dict[str, Any]]:
    return [{"id": m.id, "msg": m.msg, "data": m.logdata, "variable": m.matched_var_name,
             "value": m.matched_var_value, "severity": m.severity}
            for m in result.records][:50]


class CrsStage:
    """FIREWALL phase, after the Web ACL: the CRS on every request."""

    name = "crs"
    phase = Phase.FIREWALL
    priority = 50

    def __init__(self, engine: CrsEngine, paranoia: int, blocking: bool) -> None:
        self.engine = engine
        self.paranoia = paranoia
        self.blocking = blocking

    def run(self, ex: Exchange) -> Interruption | None:
        result = _inspect(self.engine, ex.request, self.paranoia)
        if not result.matched:
            return None
        details = _details(result)
        ex.notes["crs"] = {"matched": details, "scores": result.scores,
                           "blocked": result.blocked}
        ex.note(self.name, "matched", rules=[d["id"] for d in details], scores=result.scores)
        ex.labels.extend(f"bastion:crs:rule:{i}" for i in result.matched[:20])
        nonterminating = [{"ruleId": str(i), "action": "COUNT"} for i in result.matched
                          if i != result.terminating]
        if result.blocked and self.blocking:
            ex.notes["waf_log"] = {
                "action": "BLOCK", "terminating_rule_id": "OWASP-CRS",
                "terminating_rule_type": "MANAGED_RULE_GROUP",
                "rule_groups": [{"ruleGroupId": f"OWASP#CoreRuleSet#PL{self.paranoia}",
                                 "terminatingRule": {"ruleId": str(result.terminating),
                                                     "action": "BLOCK"},
                                 "nonTerminatingMatchingRules": nonterminating,
                                 "excludedRules": None}],
                "response_code_sent": 403,
            }
            top = ", ".join(f"{d['id']} {d['msg']}" for d in details[:5] if d["msg"])
            return Interruption("WAF_FILTERED", status=403, message="Forbidden",
                                error_type="WafFilteredException", source=self.name,
                                rule_id=str(result.terminating),
                                reason=f"OWASP CRS {_scores(result.scores)}: {top}")
        ex.notes.setdefault("waf_log", {"non_terminating": [
            {"ruleId": f"OWASP-CRS#{i}", "action": "COUNT"} for i in result.matched]})
        return None


def _engine(ctx: GatewayContext, sec: Section | None) -> tuple[CrsEngine, int, bool]:
    base = ctx.settings.base_dir
    paranoia, blocking, inbound, outbound, path, exclusions = 1, True, None, None, None, ""
    if sec is not None:
        paranoia = sec.get("paranoia", int, 1, check=lambda v: None if 1 <= v <= 4
                           else "must be 1-4")
        blocking = sec.get("mode", str, "blocking",
                           choices=("blocking", "detection")) == "blocking"
        inbound = sec.get("inbound_threshold", int, 0) or None
        outbound = sec.get("outbound_threshold", int, 0) or None
        raw_path = sec.get("path", str, "")
        path = base / raw_path if raw_path else None
        texts = []
        for _, name in sec.items("exclusions"):
            file = base / str(name)
            if not file.is_file():
                sec.error(f"file not found: {file}", "exclusions")
                continue
            texts.append(file.read_text(encoding="utf-8"))
        exclusions = "\n".join(texts)
        sec.done()
    # IP/GLOBAL persistent collections live in the shared state backend (Redis when scaled)
    store = StateCollectionStore(ctx.storage, ctx.clock)
    ctx.resources["crs_collections"] = store
    engine = CrsEngine(path, mode="On", inbound_threshold=inbound,
                       outbound_threshold=outbound, exclusions=exclusions, store=store,
                       clock=ctx.clock)
    return engine, paranoia, blocking


class CollectionFlush:
    """LOGGING phase: writes what the CRS changed in IP/GLOBAL collections to the backend."""

    name = "crs-collections"
    phase = Phase.LOGGING
    priority = 100

    def __init__(self, store: StateCollectionStore) -> None:
        self.store = store

    async def run(self, ex: Exchange) -> None:
        await self.store.flush()


def crs_layer(ctx: GatewayContext) -> list[Stage]:
    """Registers the CRS inspector for the Web ACL and, with ``waf.crs``, the CRS stage."""
    problems = Problems()
    waf = Section(ctx.settings.extra.get("waf"), file=str(ctx.settings.source), path="waf",
                  problems=problems)
    crs_sec = waf.section("crs") if waf.has("crs") else None
    waf.done()
    engine, paranoia, blocking = _engine(ctx, crs_sec)
    problems.raise_if_any()

    def inspector(req: WafRequest, level: int, excluded: frozenset[str]) -> CrsVerdict:
        result = _inspect_waf(engine, req, level, excluded)
        return CrsVerdict(matched=tuple(str(i) for i in result.matched), block=result.blocked,
                          terminating=str(result.terminating) if result.terminating else None,
                          records=tuple(result.records))

    ctx.resources["crs_inspector"] = inspector
    ctx.resources["crs_engine"] = engine
    # Load (and on first use compile) every paranoia level in use now, not on a request.
    levels = {paranoia} if crs_sec is not None else set()
    acl = ctx.settings.extra.get("webacl")
    if isinstance(acl, dict) and isinstance(acl.get("file"), str):
        acl_path = ctx.settings.base_dir / acl["file"]
        if acl_path.is_file():
            text = acl_path.read_text(encoding="utf-8", errors="replace")
            if "CoreRuleSet" in text:
                levels |= {int(m) for m in _PL.findall(text)} or {1}
    for level in sorted(levels):
        engine.waf(level)
    if not levels:
        return []
    flush = CollectionFlush(ctx.resources["crs_collections"])
    if crs_sec is None:
        return [flush]
    return [CrsStage(engine, paranoia, blocking), flush]


