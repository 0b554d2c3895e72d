"""Evaluate a request against a compiled Web ACL, the way AWS WAF does.

Rules run by ascending Priority. A matching rule adds its labels whatever its action; Count
records and goes on; Allow/Block stop everything; CAPTCHA/Challenge stop with an interstitial
unless the request carries a valid token, in which case they behave like Count. A rule group's
terminating match stops the whole Web ACL unless the referencing rule's OverrideAction is Count.
Rate-based rules ask the store for an exact sliding-window decision.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from bastion.clock import Clock, SystemClock
from bastion.pipeline import Request
from bastion.waf.webacl.context import (
    CountryLookup,
    Detectors,
    EvalContext,
    LibinjectionDetectors,
)
from bastion.waf.webacl.model import (
    COUNT,
    Action,
    CustomResponse,
    GroupRef,
    RateBased,
    Rule,
    WebAcl,
)
from bastion.waf.webacl.ratelimit import MemoryRateStore, RateStore, aggregate_key, storage_key
from bastion.waf.webacl.request import WafRequest
from bastion.waf.webacl.result import Evaluation, RuleCounters
from bastion.waf.webacl.tokens import TOKEN_COOKIE, TokenService

__all__ = ["WebAclEvaluator"]

_MAX_LIMITED = 10_000  # AWS reports at most 10,000 limited keys per rule instance
_LIMIT_KEY = {"IP": "IP", "FORWARDED_IP": "FORWARDED_IP", "CONSTANT": "CONSTANT",
              "CUSTOM_KEYS": "CUSTOMKEYS"}


@dataclass(slots=True)
class _Hit:
    """One matching rule inside a group: its name, own action, labels and match details."""

    name: str
    action: Action
    labels: tuple[str, ...] = ()
    details: list[dict[str, Any]] = field(default_factory=list)
    metric: str = ""
    rate: dict[str, Any] | None = None


class WebAclEvaluator:
    """Evaluates requests against one Web ACL; share one per Web ACL, it holds no request state.

    ``store`` holds rate-based counters (``bastion.state.Storage`` or ``MemoryRateStore``),
    ``tokens`` signs and checks ``aws-waf-token`` cookies (CAPTCHA/Challenge), ``detectors`` is the
    libinjection port, ``geo``/``geo_header`` answer GeoMatch.
    """

    def __init__(
        self,
        acl: WebAcl,
        *,
        clock: Clock | None = None,
        store: RateStore | None = None,
        tokens: TokenService | None = None,
        detectors: Detectors | None = None,
        geo: CountryLookup | None = None,
        geo_header: str | None = None,
        counters: RuleCounters | None = None,
    ) -> None:
        self.acl = acl
        self.clock = clock or SystemClock()
        self.store: RateStore = store or MemoryRateStore(self.clock)
        self.tokens = tokens
        self.detectors: Detectors = detectors or LibinjectionDetectors()  # imported on first use
        self.geo = geo
        self.geo_header = geo_header
        self.counters = counters or RuleCounters()
        # rule instance -> address -> until when it is limited (as this process saw it)
        self._limited: dict[str, dict[str, float]] = {}

    async def evaluate(self, request: WafRequest | Request) -> Evaluation:
        req = request if isinstance(request, WafRequest) else WafRequest.from_pipeline(request)
        acl = self.acl
        ctx = EvalContext(request=req, body_limit=acl.body_limit, detectors=self.detectors,
                          geo=self.geo, geo_header=self.geo_header, now=self.clock.time())
        ev = Evaluation(request_id=req.request_id)
        token = req.cookie(TOKEN_COOKIE)
        terminated = False
        for rule in acl.rules:
            ctx.details = []
            if isinstance(rule.body, GroupRef):
                terminated = await self._group(rule, rule.body, ctx, ev, token)
            else:
                terminated = await self._plain(rule, ctx, ev, token)
            if terminated:
                break
        if not terminated:
            d = acl.default_action
            ev.action = d.kind
            ev.terminating_rule_id = "Default_Action"
            ev.terminating_rule_type = "REGULAR"
            ev.response = d.custom_response
            ev.inserted_headers.extend(d.insert_headers)
            self.counters.add(acl.metric, "", "Default_Action", d.kind)
        ev.labels = list(ctx.labels)
        ev.oversize_fields = sorted(ctx.oversize_fields)
        ev.crs_records = ctx.crs_records
        self.counters.add(acl.metric, "", "ALL", ev.action)
        return ev

    # -- plain rules (statements and rate-based) -------------------------------------------

    async def _matches(self, rule: Rule, ctx: EvalContext,
                       instance: str) -> tuple[bool, dict[str, Any] | None]:
        body = rule.body
        if not isinstance(body, RateBased):
            assert not isinstance(body, GroupRef)
            return body.match(ctx), None
        if body.scope_down is not None and not body.scope_down.match(ctx):
            return False, None
        parts = aggregate_key(body, ctx)
        if parts is None:
            return False, None
        if isinstance(parts, bool):  # malformed forwarded IP: FallbackBehavior, not counted
            return parts, None
        hit = await self.store.hit_window(storage_key(instance, parts), body.limit,
                                          float(body.window_s))
        if hit.allowed:
            return False, None
        info: dict[str, Any] = {
            "rateBasedRuleId": instance,
            "rateBasedRuleName": rule.name,
            "limitKey": _LIMIT_KEY[body.key_type],
            "maxRateAllowed": body.limit,
            "evaluationWindowSec": str(body.window_s),
        }
        if body.key_type in ("IP", "FORWARDED_IP"):
            info["limitValue"] = parts[0][2]
            self._note_limited(instance, parts[0][2], float(body.window_s))
        elif body.key_type == "CUSTOM_KEYS":
            info["customValues"] = [{"key": k, "name": n, "value": v} for k, n, v in parts]
        return True, info

    def _note_limited(self, instance: str, ip: str, window_s: float) -> None:
        seen = self._limited.setdefault(instance, {})
        if len(seen) >= _MAX_LIMITED and ip not in seen:
            now = self.clock.time()
            for k in [k for k, until in seen.items() if until <= now]:
                del seen[k]
            if len(seen) >= _MAX_LIMITED:
                return
        seen[ip] = self.clock.time() + window_s

    def managed_keys(self, rule_name: str, group_rule: str | None = None) -> dict[str, Any]:
        """The addresses a rate-based rule is limiting now, shaped like AWS's
        ``GetRateBasedStatementManagedKeys`` answer (IP and forwarded-IP aggregation only).

        ``rule_name`` is the Web ACL rule; for a rate-based rule inside a rule group, pass the
        referencing rule as ``rule_name`` and the group's rule as ``group_rule``. This is what
        this process has seen refused; with a shared store each process knows its own part.
        """
        instance = f"{self.acl.name}:{rule_name}" + (f":{group_rule}" if group_rule else "")
        now = self.clock.time()
        v4: list[str] = []
        v6: list[str] = []
        for ip, until in sorted(self._limited.get(instance, {}).items()):
            if until > now:
                (v6 if ":" in ip else v4).append(ip + ("/128" if ":" in ip else "/32"))
        return {"ManagedKeysIPV4": {"IPAddressVersion": "IPV4", "Addresses": v4},
                "ManagedKeysIPV6": {"IPAddressVersion": "IPV6", "Addresses": v6}}

    async def _plain(self, rule: Rule, ctx: EvalContext, ev: Evaluation,
                     token: str | None) -> bool:
        matched, rate = await self._matches(rule, ctx, f"{self.acl.name}:{rule.name}")
        if not matched:
            return False
        for lab in rule.labels:
            ctx.add_label(lab)
        if rate is not None:
            ev.rate_based.append(rate)
        action = rule.action or COUNT
        details = list(ctx.details)
        self.counters.add(self.acl.metric, "", rule.metric, action.kind)
        if not self._terminates(action, rule, ev, token, details, ev.non_terminating, rule.name):
            return False
        ev.terminating_rule_id = rule.name
        ev.terminating_rule_type = "RATE_BASED" if isinstance(rule.body, RateBased) else "REGULAR"
        ev.terminating_details = details
        return True

    def _terminates(self, action: Action, rule: Rule, ev: Evaluation, token: str | None,
                    details: list[dict[str, Any]], nonterm: list[dict[str, Any]],
                    rule_id: str, original: Action | None = None) -> bool:
        """Apply ``action``; True when it ends the evaluation (sets ev.action and response)."""
        kind = action.kind
        if kind == "COUNT":
            rec: dict[str, Any] = {"ruleId": rule_id, "action": "COUNT",
                                   "ruleMatchDetails": details}
            if original is not None and original.kind != "COUNT":
                rec["overriddenAction"] = original.kind
            nonterm.append(rec)
            ev.inserted_headers.extend(action.insert_headers)
            return False
        if kind in ("CAPTCHA", "CHALLENGE"):
            immunity = rule.captcha_immunity if kind == "CAPTCHA" else rule.challenge_immunity
            solved = self.tokens.solved(token, kind, immunity) if self.tokens else None
            resp_key = "captchaResponse" if kind == "CAPTCHA" else "challengeResponse"
            if solved is not None:
                nonterm.append({"ruleId": rule_id, "action": kind, "ruleMatchDetails": details,
                                resp_key: {"responseCode": 0, "solveTimestamp": int(solved)}})
                ev.inserted_headers.extend(action.insert_headers)
                return False
            ev.action = kind
            reason = "TOKEN_MISSING" if not token else "TOKEN_EXPIRED"
            if self.tokens is not None and token and self.tokens.read(token) is None:
                reason = "TOKEN_INVALID"
            if self.tokens is not None:
                status, headers, body = self.tokens.page(kind, ev.request_id)
            else:
                status, headers, body = (405 if kind == "CAPTCHA" else 202), (), b""
            ev.response = CustomResponse(status, headers, body, "text/html")
            setattr(ev, "captcha_response" if kind == "CAPTCHA" else "challenge_response",
                    {"responseCode": status, "failureReason": reason})
            return True
        ev.action = kind
        if kind == "ALLOW":
            ev.inserted_headers.extend(action.insert_headers)
        else:
            ev.response = action.custom_response
        return True

    # -- rule groups ----------------------------------------------------------------------

    async def _hits(self, rule: Rule, ref: GroupRef, ctx: EvalContext) -> AsyncGenerator[_Hit]:
        if ref.crs is not None:
            for hit in await self._crs_hits(ref, ctx):
                yield hit
            return
        for inner in ref.group.rules:
            ctx.details = []
            matched, rate = await self._matches(inner, ctx,
                                                f"{self.acl.name}:{rule.name}:{inner.name}")
            if not matched:
                continue
            for lab in inner.labels:
                ctx.add_label(lab)
            yield _Hit(inner.name, inner.action or COUNT, inner.labels, list(ctx.details),
                       inner.metric, rate)

    async def _crs_hits(self, ref: GroupRef, ctx: EvalContext) -> list[_Hit]:
        assert ref.crs is not None
        excluded = frozenset(n.removeprefix("CRS-") for n in ref.excluded)
        got = ref.crs(ctx.request, ref.paranoia, excluded)
        verdict = await got if inspect.isawaitable(got) else got
        ctx.crs_records.extend(verdict.records)
        out: list[_Hit] = []
        ns = ref.group.namespace
        for rid in verdict.matched:
            if rid == verdict.terminating:
                continue
            ctx.add_label(f"{ns}CRS-{rid}")
            out.append(_Hit(f"CRS-{rid}", COUNT, (f"{ns}CRS-{rid}",), metric=f"CRS-{rid}"))
        if verdict.block:
            name = f"CRS-{verdict.terminating or '949110'}"
            ctx.add_label(ns + name)
            out.append(_Hit(name, Action("BLOCK"), (ns + name,), metric=name))
        return out

    async def _group(self, rule: Rule, ref: GroupRef, ctx: EvalContext, ev: Evaluation,
                     token: str | None) -> bool:
        if ref.scope_down is not None and not ref.scope_down.match(ctx):
            return False
        entry: dict[str, Any] = {"ruleGroupId": ref.group.group_id, "terminatingRule": None,
                                 "nonTerminatingMatchingRules": [], "excludedRules": None}
        async with aclosing(self._hits(rule, ref, ctx)) as hits:
            return await self._group_hits(rule, ref, ev, token, hits, entry)

    async def _group_hits(self, rule: Rule, ref: GroupRef, ev: Evaluation, token: str | None,
                          hits: AsyncIterator[_Hit], entry: dict[str, Any]) -> bool:
        acl = self.acl
        gmetric = ref.group.metric or ref.group.name
        excluded_hits: list[dict[str, str]] = []
        matched_any = False
        async for hit in hits:
            matched_any = True
            if hit.rate is not None:
                ev.rate_based.append(hit.rate)
            action = ref.overrides.get(hit.name)
            if action is None and hit.name in ref.excluded:
                action = COUNT
                excluded_hits.append({"exclusionType": "EXCLUDED_AS_COUNT", "ruleId": hit.name})
            if action is None:
                action = hit.action
            self.counters.add(acl.metric, gmetric, hit.metric or hit.name, action.kind)
            nonterm = entry["nonTerminatingMatchingRules"]
            inserted = len(ev.inserted_headers)
            if not self._terminates(action, rule, ev, token, hit.details, nonterm, hit.name,
                                    original=hit.action):
                continue
            entry["terminatingRule"] = {"ruleId": hit.name, "action": action.kind,
                                        "ruleMatchDetails": hit.details}
            if excluded_hits:
                entry["excludedRules"] = excluded_hits
            ev.rule_groups.append(entry)
            if rule.override_count:
                # The group's verdict becomes Count at the Web ACL level; evaluation goes on.
                ev.action, ev.response = "ALLOW", None
                ev.captcha_response = ev.challenge_response = None
                del ev.inserted_headers[inserted:]  # an overridden Allow inserts nothing
                ev.non_terminating.append({"ruleId": rule.name, "action": "COUNT",
                                           "ruleMatchDetails": hit.details,
                                           "overriddenAction": action.kind})
                self.counters.add(acl.metric, "", rule.metric, "COUNT")
                return False
            self.counters.add(acl.metric, "", rule.metric, action.kind)
            ev.terminating_rule_id = rule.name
            ev.terminating_rule_type = ref.rule_type
            ev.terminating_details = hit.details
            return True
        if excluded_hits:
            entry["excludedRules"] = excluded_hits
        if entry["nonTerminatingMatchingRules"] or excluded_hits:
            ev.rule_groups.append(entry)
        if not matched_any:
            self.counters.add(acl.metric, gmetric, "ALL", "PASS")
        return False
