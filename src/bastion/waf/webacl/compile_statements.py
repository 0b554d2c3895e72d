"""WAFv2 statements, JSON to the runtime objects of ``statements.py`` (and rate-based rules
and rule-group references, which ``evaluator.py`` runs).

Every statement type of the model has an entry in ``_STATEMENTS``; ``AsnMatchStatement`` is
read and reported as unsupported rather than dropped.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable

from bastion.waf.webacl.compile_base import (
    INTERNAL_STATEMENTS,
    LABEL_RE,
    STATEMENT_MEMBERS,
    TOP_ONLY,
    WINDOWS,
    Env,
    compile_action,
    compile_forwarded,
    compile_regex,
    compile_transforms,
)
from bastion.waf.webacl.fields import Field, compile_field
from bastion.waf.webacl.jsonnode import Node
from bastion.waf.webacl.model import (
    Action,
    CustomKey,
    GroupRef,
    RateBased,
    RuleBody,
    RuleGroup,
)
from bastion.waf.webacl.statements import (
    AndStatement,
    ByteMatch,
    GeoMatch,
    IPListMatch,
    IPSetMatch,
    LabelMatch,
    NotStatement,
    OrStatement,
    RegexMatch,
    SizeConstraint,
    SqliMatch,
    Statement,
    XssMatch,
)
from bastion.waf.webacl.transforms import TRANSFORMS

__all__ = ["compile_statement"]

def _field_and_chain(sub: Node) -> tuple[Field | None, tuple[str, ...]]:
    pre = compile_transforms(sub, "PreParseTextTransformations", required=False, pre=True)
    semis = "REPLACE_SEMICOLONS_WITH_AMPERSANDS" in pre
    comb = "COMBINE_DUPLICATE_QUERY_ARGS_BY_COMMA" in pre
    pre_chain = tuple(p for p in pre if p in TRANSFORMS)
    ftm = sub.obj("FieldToMatch", required=True)
    fld = compile_field(ftm, pre_chain, semis, comb) if ftm is not None else None
    chain = compile_transforms(sub)
    return fld, chain


def compile_statement(node: Node, env: Env, *, top: bool = False) -> RuleBody | None:
    members = STATEMENT_MEMBERS + (INTERNAL_STATEMENTS if env.internal else ())
    kind = node.one_of(members)
    if kind is None:
        node.finish()
        return None
    sub = node.obj(kind)
    node.finish()
    if sub is None:
        return None
    if kind in TOP_ONLY and not top:
        node.issues.error(node.at(kind), f"{kind} cannot be nested")
        return None
    if kind in ("ManagedRuleGroupStatement", "RuleGroupReferenceStatement") and env.in_group:
        node.issues.error(node.at(kind), "a rule group cannot reference another rule group")
        return None
    out = _STATEMENTS[kind](sub, env)
    return out


def _nested(node: Node, env: Env, key: str) -> Statement | None:
    child = node.obj(key, required=True)
    if child is None:
        return None
    st = compile_statement(child, env)
    assert st is None or not isinstance(st, RateBased | GroupRef)
    return st


def _byte_match(sub: Node, env: Env) -> Statement | None:
    raw = sub.get("SearchString", str, required=True)
    pos = sub.enum("PositionalConstraint", ("EXACTLY", "STARTS_WITH", "ENDS_WITH", "CONTAINS",
                                            "CONTAINS_WORD"), required=True)
    fld, chain = _field_and_chain(sub)
    sub.finish()
    if raw is None or pos is None or fld is None:
        return None
    if env.search_base64:
        try:
            search = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            sub.issues.error(sub.at("SearchString"),
                             "not base64 (the CLI prints blobs base64-encoded; pass "
                             "search_strings='plain' for console JSON)")
            return None
    else:
        search = raw.encode("utf-8")
    if not search:
        sub.issues.error(sub.at("SearchString"), "empty search string")
        return None
    return ByteMatch(fld, chain, search, pos)


def _regex_match(sub: Node, env: Env) -> Statement | None:
    pattern = sub.get("RegexString", str, required=True)
    fld, chain = _field_and_chain(sub)
    sub.finish()
    if pattern is None or fld is None:
        return None
    rx = compile_regex(sub.issues, sub.at("RegexString"), pattern)
    return None if rx is None else RegexMatch(fld, chain, (rx,))


def _regex_set(sub: Node, env: Env) -> Statement | None:
    arn = sub.get("ARN", str, required=True)
    fld, chain = _field_and_chain(sub)
    sub.finish()
    if arn is None or fld is None:
        return None
    pats = env.regex_sets.get(arn)
    if pats is None:
        sub.issues.error(sub.at("ARN"), f"regex pattern set {arn!r} was not supplied")
        return None
    return RegexMatch(fld, chain, pats)


def _sqli(sub: Node, env: Env) -> Statement | None:
    level = sub.enum("SensitivityLevel", ("LOW", "HIGH"), default="LOW") or "LOW"
    fld, chain = _field_and_chain(sub)
    sub.finish()
    return None if fld is None else SqliMatch(fld, chain, level)


def _xss(sub: Node, env: Env) -> Statement | None:
    fld, chain = _field_and_chain(sub)
    sub.finish()
    return None if fld is None else XssMatch(fld, chain)


def _size(sub: Node, env: Env) -> Statement | None:
    op = sub.enum("ComparisonOperator", ("EQ", "NE", "LE", "LT", "GE", "GT"), required=True)
    size = sub.int_in("Size", 0, 21474836480, required=True)
    fld, chain = _field_and_chain(sub)
    sub.finish()
    if op is None or size is None or fld is None:
        return None
    return SizeConstraint(fld, chain, op, size)


def _geo(sub: Node, env: Env) -> Statement | None:
    codes = sub.strs("CountryCodes", required=True)
    for i, c in enumerate(codes):
        if not re.fullmatch(r"[A-Z]{2}", c):
            sub.issues.error(f"{sub.at('CountryCodes')}[{i}]", f"{c!r} is not a country code")
    fwd = compile_forwarded(sub.obj("ForwardedIPConfig"), with_position=False)
    sub.finish()
    return GeoMatch(frozenset(codes), fwd) if codes else None


def _ipset(sub: Node, env: Env) -> Statement | None:
    arn = sub.get("ARN", str, required=True)
    fwd = compile_forwarded(sub.obj("IPSetForwardedIPConfig"), with_position=True)
    sub.finish()
    if arn is None:
        return None
    ranges = env.ip_sets.get(arn)
    if ranges is None:
        sub.issues.error(sub.at("ARN"), f"IP set {arn!r} was not supplied")
        return None
    return IPSetMatch(ranges, fwd)


def _iplist(sub: Node, env: Env) -> Statement | None:
    name = sub.get("List", str, required=True)
    fwd = compile_forwarded(sub.obj("ForwardedIPConfig"), with_position=True)
    sub.finish()
    src = env.ip_lists.get(name or "")
    if src is None:
        sub.issues.error(sub.at("List"), f"no IP list named {name!r}")
        return None
    return IPListMatch(src, fwd)


def _label(sub: Node, env: Env) -> Statement | None:
    scope = sub.enum("Scope", ("LABEL", "NAMESPACE"), required=True)
    key = sub.get("Key", str, required=True)
    sub.finish()
    if scope is None or key is None:
        return None
    if not LABEL_RE.match(key):
        sub.issues.error(sub.at("Key"), f"{key!r} is not a valid label key")
    return LabelMatch(scope, key, env.namespace)


def _logic(cls: type[AndStatement] | type[OrStatement]) -> Callable[[Node, Env],
                                                                    Statement | None]:
    def build(sub: Node, env: Env) -> Statement | None:
        items = sub.objs("Statements", required=True)
        sub.finish()
        if len(items) < 2:
            sub.issues.error(sub.at("Statements"), "And/Or need at least two statements")
        out: list[Statement] = []
        for it in items:
            st = compile_statement(it, env)
            if st is not None:
                assert not isinstance(st, RateBased | GroupRef)
                out.append(st)
        return cls(tuple(out)) if len(out) == len(items) and out else None
    return build


def _not(sub: Node, env: Env) -> Statement | None:
    st = _nested(sub, env, "Statement")
    sub.finish()
    return None if st is None else NotStatement(st)


def _asn(sub: Node, env: Env) -> Statement | None:
    sub.raw("AsnList")
    sub.raw("ForwardedIPConfig")
    sub.issues.unsupported(sub.path, "ASN matching needs an ASN database; not supported")
    return None


KEY_MEMBERS = ("Header", "Cookie", "QueryArgument", "QueryString", "HTTPMethod", "ForwardedIP",
                "IP", "LabelNamespace", "UriPath", "JA3Fingerprint", "JA4Fingerprint", "ASN")


def _custom_key(node: Node) -> CustomKey | None:
    kind = node.one_of(KEY_MEMBERS)
    if kind is None:
        return None
    sub = node.obj(kind)
    node.finish()
    if sub is None:
        return None
    if kind in ("JA3Fingerprint", "JA4Fingerprint", "ASN"):
        sub.raw("FallbackBehavior")
        sub.finish()
        node.issues.unsupported(node.at(kind), f"{kind} aggregation keys are not supported")
        return None
    name = ""
    chain: tuple[str, ...] = ()
    if kind in ("Header", "Cookie", "QueryArgument"):
        name = sub.get("Name", str, required=True) or ""
        chain = compile_transforms(sub)
    elif kind in ("QueryString", "UriPath"):
        chain = compile_transforms(sub)
    elif kind == "LabelNamespace":
        name = sub.get("Namespace", str, required=True) or ""
        if name and not re.fullmatch(r"[0-9A-Za-z_\-:]+:", name):
            sub.issues.error(sub.at("Namespace"), "a label namespace ends with ':'")
    sub.finish()
    return CustomKey(kind, name, chain)


def _rate(sub: Node, env: Env) -> RateBased | None:
    limit = sub.int_in("Limit", 10, 2_000_000_000, required=True)
    window = sub.get("EvaluationWindowSec", int, default=300)
    if window not in WINDOWS:
        sub.issues.error(sub.at("EvaluationWindowSec"), f"must be one of {WINDOWS}")
        window = 300
    ktype = sub.enum("AggregateKeyType", ("IP", "FORWARDED_IP", "CUSTOM_KEYS", "CONSTANT"),
                     required=True)
    fwd = compile_forwarded(sub.obj("ForwardedIPConfig"), with_position=False)
    scope = None
    if sub.has("ScopeDownStatement"):
        scope = _nested(sub, env, "ScopeDownStatement")
    keys: list[CustomKey] = []
    key_nodes = sub.objs("CustomKeys")
    if len(key_nodes) > 5:
        sub.issues.error(sub.at("CustomKeys"), "at most 5 custom keys")
    for kn in key_nodes:
        k = _custom_key(kn)
        if k is not None:
            keys.append(k)
    sub.finish()
    if ktype == "CUSTOM_KEYS" and not key_nodes:
        sub.issues.error(sub.at("CustomKeys"), "CUSTOM_KEYS needs at least one custom key")
    if ktype != "CUSTOM_KEYS" and key_nodes:
        sub.issues.error(sub.at("CustomKeys"), "custom keys need AggregateKeyType CUSTOM_KEYS")
    if ktype == "CONSTANT" and scope is None:
        sub.issues.error(sub.at("ScopeDownStatement"), "CONSTANT aggregation needs a scope-down")
    needs_fwd = ktype == "FORWARDED_IP" or any(k.kind == "ForwardedIP" for k in keys)
    if needs_fwd and fwd is None:
        sub.issues.error(sub.at("ForwardedIPConfig"), "forwarded-IP aggregation needs a config")
    if limit is None or ktype is None or len(keys) != len(key_nodes):
        return None
    return RateBased(limit, int(window), ktype, tuple(keys), fwd, scope)


def _overrides(sub: Node, env: Env) -> tuple[frozenset[str], dict[str, Action]]:
    excluded: set[str] = set()
    for e in sub.objs("ExcludedRules"):
        name = e.get("Name", str, required=True)
        e.finish()
        if name:
            excluded.add(name)
    overrides: dict[str, Action] = {}
    for o in sub.objs("RuleActionOverrides"):
        name = o.get("Name", str, required=True)
        a = o.obj("ActionToUse", required=True)
        act = compile_action(a, env) if a is not None else None
        o.finish()
        if name and act is not None:
            overrides[name] = act
    return frozenset(excluded), overrides


def _check_names(sub: Node, group: RuleGroup, names: set[str], *, managed: bool) -> None:
    known = group.rule_names()
    for n in sorted(names - known):
        msg = f"{n!r} names no rule of {group.name}"
        if managed:
            sub.issues.warning(sub.path, msg + " (AWS ignores it silently)")
        else:
            sub.issues.error(sub.path, msg)


def _managed(sub: Node, env: Env) -> GroupRef | None:
    vendor = sub.get("VendorName", str, required=True)
    name = sub.get("Name", str, required=True)
    version = sub.get("Version", str)
    excluded, overrides = _overrides(sub, env)
    scope = _nested(sub, env, "ScopeDownStatement") if sub.has("ScopeDownStatement") else None
    if sub.has("ManagedRuleGroupConfigs"):
        sub.raw("ManagedRuleGroupConfigs")
        sub.issues.unsupported(sub.at("ManagedRuleGroupConfigs"),
                               "ATP/ACFP/Bot Control/Anti-DDoS configurations are not supported")
    sub.finish()
    if vendor is None or name is None:
        return None
    if env.managed is None:
        sub.issues.unsupported(sub.path, "no managed rule group catalog is configured")
        return None
    mg = env.managed(sub, vendor, name, version)
    if mg is None:
        return None
    if not mg.crs:
        _check_names(sub, mg.group, set(excluded) | set(overrides), managed=True)
    return GroupRef(mg.group, "MANAGED_RULE_GROUP", excluded, overrides, scope, mg.crs,
                    mg.paranoia)


def _group_ref(sub: Node, env: Env) -> GroupRef | None:
    arn = sub.get("ARN", str, required=True)
    excluded, overrides = _overrides(sub, env)
    sub.finish()
    if arn is None:
        return None
    build = env.rule_groups.get(arn)
    group = build() if build is not None else None
    if group is None:
        if build is None:
            sub.issues.error(sub.at("ARN"), f"rule group {arn!r} was not supplied")
        return None
    _check_names(sub, group, set(excluded) | set(overrides), managed=False)
    return GroupRef(group, "GROUP", excluded, overrides)


_STATEMENTS: dict[str, Callable[[Node, Env], RuleBody | None]] = {
    "ByteMatchStatement": _byte_match,
    "RegexMatchStatement": _regex_match,
    "RegexPatternSetReferenceStatement": _regex_set,
    "SqliMatchStatement": _sqli,
    "XssMatchStatement": _xss,
    "SizeConstraintStatement": _size,
    "GeoMatchStatement": _geo,
    "IPSetReferenceStatement": _ipset,
    "LabelMatchStatement": _label,
    "AndStatement": _logic(AndStatement),
    "OrStatement": _logic(OrStatement),
    "NotStatement": _not,
    "AsnMatchStatement": _asn,
    "RateBasedStatement": _rate,
    "ManagedRuleGroupStatement": _managed,
    "RuleGroupReferenceStatement": _group_ref,
    "BastionIPListStatement": _iplist,
}


