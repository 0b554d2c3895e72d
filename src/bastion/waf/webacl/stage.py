"""The FIREWALL phase: the Web ACL as a pipeline stage, and the layer that builds it.

On a terminating Block the stage returns ``Interruption(response_type="WAF_FILTERED")`` (403
``{"message":"Forbidden"}``, as API Gateway answers for AWS WAF), or the rule's CustomResponse;
CAPTCHA/Challenge return the interstitial. Every evaluation is kept in ``ex.notes["waf"]``, its
log fields in ``ex.notes["waf_log"]`` (what ``bastion.observe``'s LOGGING stage hands to
``WafLogBuilder.build``; ``waf_log_record`` builds a record without it) and its labels are
appended to ``ex.labels``. Headers from CustomRequestHandling are added to the request the
integration sees.

Config (``webacl:`` in bastion.yaml)::

    webacl:
      file: webacl.json                  # `aws wafv2 get-web-acl` output (or the bare object)
      ip_sets: [office.ipset.json]       # get-ip-set outputs the Web ACL references
      regex_sets: []                     # get-regex-pattern-set outputs
      rule_groups: []                    # get-rule-group outputs
      ip_lists:                          # managed IP lists: AWS list name -> files
        AWSManagedIPReputationList: [reputation.netset]
      ip_list_check_seconds: 5           # mtime check interval for reloading lists
      token_secret_env: BASTION_WAF_TOKEN_SECRET   # HMAC key of aws-waf-token cookies
      geoip_database: GeoLite2-Country.mmdb        # MaxMind-format, for GeoMatch
      country_header: CloudFront-Viewer-Country    # or a trusted proxy's country header
      search_strings: auto               # auto | base64 | plain
      strict: true                       # unsupported fields stop the load

Shared objects it reads from ``ctx.resources``: ``"storage"`` (the gateway's
``GuardedStorage``: rate-based rules count there, so several processes sharing Redis enforce one
limit; in-process memory when absent) and ``"crs_inspector"`` (the OWASP CRS engine's
``CrsInspector``).
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Any, Literal

from bastion.config import Problems, Section
from bastion.gateway.gateway import GatewayContext
from bastion.pipeline import Exchange, Headers, Interruption, Phase, Stage
from bastion.waf.webacl.context import CountryLookup, MaxMindCountryLookup
from bastion.waf.webacl.evaluator import WebAclEvaluator
from bastion.waf.webacl.loader import load_web_acl
from bastion.waf.webacl.managed import AWS_GROUPS, ManagedCatalog
from bastion.waf.webacl.model import CrsInspector
from bastion.waf.webacl.ratelimit import GuardedRateStore, RateStore
from bastion.waf.webacl.reputation import IPReputationList
from bastion.waf.webacl.request import WafRequest
from bastion.waf.webacl.result import Evaluation
from bastion.waf.webacl.tokens import TokenService

__all__ = ["WebAclStage", "waf_log_record", "webacl_layer"]

log = logging.getLogger("bastion.waf.webacl")

_LIST_NAMES = frozenset(n for _, _, lists in AWS_GROUPS.values() for n in lists)


class WebAclStage:
    """Evaluates every request against one Web ACL before routing (AWS WAF runs first)."""

    name = "webacl"
    phase = Phase.FIREWALL
    priority = 0

    def __init__(self, evaluator: WebAclEvaluator) -> None:
        self.evaluator = evaluator

    async def run(self, ex: Exchange) -> Interruption | None:
        req = ex.request
        result = await self.evaluator.evaluate(WafRequest.from_pipeline(req, ex.request_id))
        acl = self.evaluator.acl
        ex.notes["waf"] = result
        ex.notes["waf_acl"] = acl
        ex.notes["waf_log"] = result.log_fields(body_size=len(req.body),
                                                body_limit=acl.body_limit)
        ex.labels.extend(result.labels)
        ex.note(self.name, "evaluated", action=result.action,
                rule=result.terminating_rule_id, type=result.terminating_rule_type)
        if result.inserted_headers:
            req.headers = Headers([*req.headers.items(), *result.inserted_headers])
        if result.action == "ALLOW":
            return None
        return interruption(result)


def interruption(result: Evaluation) -> Interruption:
    """The client-facing answer for a terminating non-Allow evaluation."""
    reason = f"{result.terminating_rule_type} {result.terminating_rule_id} {result.action}"
    resp = result.response
    if resp is None:
        return Interruption("WAF_FILTERED", status=403, message="Forbidden", source="webacl",
                            reason=reason, rule_id=result.terminating_rule_id)
    headers = tuple((k, v) for k, v in resp.headers if k.lower() != "content-type")
    ctype = next((v for k, v in resp.headers if k.lower() == "content-type"),
                 resp.content_type or "text/plain")
    return Interruption("WAF_FILTERED", status=resp.status, headers=headers,
                        body=resp.body or b"", content_type=ctype, source="webacl",
                        reason=reason, rule_id=result.terminating_rule_id)


def waf_log_record(ex: Exchange, *, country: str = "-", source_id: str = "-") -> dict[str, Any]:
    """The AWS WAF log record of an exchange the stage evaluated (KeyError if it did not)."""
    result: Evaluation = ex.notes["waf"]
    acl = ex.notes["waf_acl"]
    return result.to_log_record(
        web_acl_arn=acl.arn, request=WafRequest.from_pipeline(ex.request, ex.request_id),
        timestamp_ms=int(ex.started_at * 1000), country=country, source_id=source_id,
        body_limit=acl.body_limit)


def _token_secret(sec: Section) -> bytes:
    env = sec.get("token_secret_env", str, "BASTION_WAF_TOKEN_SECRET")
    value = os.environ.get(env, "")
    if len(value) >= 16:
        return value.encode()
    if value:
        sec.error(f"${env} must hold at least 16 characters", "token_secret_env")
    log.warning("webacl: $%s is not set; CAPTCHA/Challenge tokens use a per-process key and "
                "will not survive a restart or be shared between processes", env)
    return secrets.token_bytes(32)


def webacl_layer(ctx: GatewayContext) -> list[Stage]:
    """Builds the FIREWALL stage from ``webacl:``; nothing when the section is absent."""
    data = ctx.settings.extra.get("webacl")
    if data is None:
        return []
    file = str(ctx.settings.source)
    base: Path = ctx.settings.base_dir
    problems = Problems()
    sec = Section(data, file=file, path="webacl", problems=problems)

    def paths(key: str) -> list[Path]:
        out = []
        for _, item in sec.items(key):
            if not isinstance(item, str):
                sec.error("must be a list of file names", key)
                continue
            p = base / item
            if not p.is_file():
                sec.error(f"file not found: {p}", key)
            out.append(p)
        return out

    acl_file = sec.require("file", str, "")
    ip_sets, regex_sets, rule_groups = paths("ip_sets"), paths("regex_sets"), paths("rule_groups")
    check = sec.get("ip_list_check_seconds", float, 5.0)
    lists: dict[str, IPReputationList] = {}
    lsec = sec.section("ip_lists")
    for name in list(lsec.data):
        if name not in _LIST_NAMES:
            lsec.error(f"not an AWS managed IP list ({', '.join(sorted(_LIST_NAMES))})", name)
            continue
        files = [base / f for _, f in lsec.items(name) if isinstance(f, str)]
        missing = [str(f) for f in files if not f.is_file()]
        if missing or not files:
            lsec.error(f"file not found: {', '.join(missing) or '(none given)'}", name)
            continue
        lists[name] = IPReputationList(name, [str(f) for f in files], ctx.clock,
                                       check_every=check)
    lsec.done()
    secret = _token_secret(sec)
    geo: CountryLookup | None = None
    db = sec.get("geoip_database", str, "")
    if db:
        try:
            geo = MaxMindCountryLookup(str(base / db))
        except (OSError, ValueError, ImportError) as exc:
            sec.error(f"cannot open the MaxMind database: {exc}", "geoip_database")
    country_header = sec.get("country_header", str, "") or None
    mode: Literal["auto", "base64", "plain"] = "auto"
    raw_mode = sec.get("search_strings", str, "auto", choices=("auto", "base64", "plain"))
    if raw_mode in ("base64", "plain"):
        mode = "base64" if raw_mode == "base64" else "plain"
    strict = sec.get("strict", bool, True)
    sec.done()
    problems.raise_if_any()

    crs: CrsInspector | None = ctx.resources.get("crs_inspector")
    acl = load_web_acl(base / acl_file, ip_sets=ip_sets, regex_sets=regex_sets,
                       rule_groups=rule_groups, managed=ManagedCatalog(ip_lists=lists, crs=crs),
                       search_strings=mode,
                       strict=strict)
    for issue in acl.issues:
        log.warning("webacl: %s", issue.render())
    guarded = ctx.resources.get("storage")
    store: RateStore | None = GuardedRateStore(guarded) if guarded is not None else None
    evaluator = WebAclEvaluator(acl, clock=ctx.clock, store=store,
                                tokens=TokenService(secret, ctx.clock), geo=geo,
                                geo_header=country_header)
    ctx.resources["webacl"] = evaluator
    return [WebAclStage(evaluator)]
