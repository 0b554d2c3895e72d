"""Compile WAFv2 JSON (as ``aws wafv2 get-web-acl`` prints it) into the frozen model.

Every object is read through ``Node`` so that a field Bastion does not read is reported with its
JSON path; nothing is dropped silently. Referenced IP sets, regex pattern sets and rule groups
come from ``Env`` (the loader fills it from files or a bundle), managed groups from the catalog.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bastion.waf.webacl.fields import Field, compile_field
from bastion.waf.webacl.ipranges import IPRanges
from bastion.waf.webacl.issues import Issues
from bastion.waf.webacl.jsonnode import Node
from bastion.waf.webacl.model import (
    CONTENT_TYPES,
    Action,
    CrsInspector,
    CustomKey,
    CustomResponse,
    GroupRef,
    RateBased,
    Rule,
    RuleBody,
    RuleGroup,
)
from bastion.waf.webacl.regex import Pattern, RegexCompileError, compile_pattern
from bastion.waf.webacl.statements import (
    AndStatement,
    ByteMatch,
    ForwardedIP,
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
from bastion.waf.webacl.transforms import PRE_PARSE_TYPES, TRANSFORMS, compile_chain

__all__ = ["Env", "ManagedGroup", "compile_rules", "compile_statement"]

STATEMENT_MEMBERS = (
    "ByteMatchStatement", "SqliMatchStatement", "XssMatchStatement", "SizeConstraintStatement",
    "GeoMatchStatement", "RuleGroupReferenceStatement", "IPSetReferenceStatement",
    "RegexPatternSetReferenceStatement", "RateBasedStatement", "AndStatement", "OrStatement",
    "NotStatement", "ManagedRuleGroupStatement", "LabelMatchStatement", "RegexMatchStatement",
    "AsnMatchStatement",
)
INTERNAL_STATEMENTS = ("BastionIPListStatement",)
TOP_ONLY = ("RateBasedStatement", "ManagedRuleGroupStatement", "RuleGroupReferenceStatement")
WINDOWS = (60, 120, 300, 600)
_METRIC = re.compile(r"^[\w#:.\-/]+$")
_NAME = re.compile(r"^[\w\-]+$")
_LABEL = re.compile(r"^[0-9A-Za-z_\-:]+$")
_HEADER_NAME = re.compile(r"^[a-zA-Z0-9._$-]+$")
_MAX_REGEX = 512


@dataclass(frozen=True, slots=True)
class ManagedGroup:
    """A managed rule group as the catalog builds it."""

    group: RuleGroup
    crs: CrsInspector | None = None
    paranoia: int = 1


@dataclass(slots=True)
class Env:
    """What a compilation can refer to, and how."""

    namespace: str  # label namespace of the current context, ending in ":"
    bodies: Mapping[str, tuple[bytes, str]] = field(default_factory=dict)
    ip_sets: Mapping[str, IPRanges] = field(default_factory=dict)
    regex_sets: Mapping[str, tuple[Pattern, ...]] = field(default_factory=dict)
    rule_groups: Mapping[str, Callable[[], RuleGroup | None]] = field(default_factory=dict)
    managed: Callable[[Node, str, str, str | None], ManagedGroup | None] | None = None
    ip_lists: Mapping[str, Callable[[], IPRanges]] = field(default_factory=dict)
    search_base64: bool = False
    internal: bool = False
    in_group: bool = False
    captcha_immunity: int = 300
    challenge_immunity: int = 300

    def child(self, **changes: object) -> Env:
        values = {name: getattr(self, name) for name in self.__slots__}
        values.update(changes)
        return Env(**values)


# -- text transformations, actions, responses ----------------------------------------------


def compile_transforms(node: Node, key: str = "TextTransformations", *,
                       required: bool = True, pre: bool = False) -> tuple[str, ...]:
    pairs: list[tuple[int, str]] = []
    seen: set[int] = set()
    allowed = PRE_PARSE_TYPES if pre else frozenset(TRANSFORMS)
    for t in node.objs(key, required=required):
        prio = t.int_in("Priority", 0, None, required=True)
        kind = t.enum("Type", allowed, required=True)
        t.finish()
        if prio is None or kind is None:
            continue
        if prio in seen:
            t.issues.error(t.at("Priority"), f"duplicate transformation priority {prio}")
        seen.add(prio)
        pairs.append((prio, kind))
    if required and node.has(key) and isinstance(node.raw(key), list) and not node.raw(key):
        node.issues.error(node.at(key), "at least one text transformation is required (NONE)")
    return compile_chain(pairs)


def _headers(node: Node, key: str, *, prefix: str = "") -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for h in node.objs(key):
        name = h.get("Name", str, required=True)
        value = h.get("Value", str, required=True)
        h.finish()
        if name is None or value is None:
            continue
        if not _HEADER_NAME.match(name) or len(name) > 64:
            h.issues.error(h.at("Name"), f"{name!r} is not a valid header name")
        out.append((prefix + name, value))
    return tuple(out)


def compile_custom_response(node: Node, env: Env) -> CustomResponse | None:
    status = node.int_in("ResponseCode", 200, 599, required=True)
    key = node.get("CustomResponseBodyKey", str)
    headers = _headers(node, "ResponseHeaders")
    node.finish()
    if status is None:
        return None
    body = ctype = None
    if key is not None:
        found = env.bodies.get(key)
        if found is None:
            node.issues.error(node.at("CustomResponseBodyKey"),
                              f"no CustomResponseBodies entry named {key!r}")
        else:
            body, ctype = found
    return CustomResponse(status, headers, body, ctype, key)


def compile_action(node: Node, env: Env, *, default: bool = False) -> Action | None:
    members = ("Allow", "Block") if default else ("Allow", "Block", "Count", "Captcha",
                                                   "Challenge")
    known = None if default else {"Monetize": "the Monetize action (CloudFront payments) is "
                                  "not supported by Bastion"}
    if not default and node.has("Monetize"):
        node.finish(known)
        return None
    kind = node.one_of(members)
    if kind is None:
        return None
    sub = node.obj(kind)
    node.finish(known)
    if sub is None:
        return None
    resp = None
    inserts: tuple[tuple[str, str], ...] = ()
    if kind == "Block":
        r = sub.obj("CustomResponse")
        resp = compile_custom_response(r, env) if r is not None else None
    else:
        crh = sub.obj("CustomRequestHandling")
        if crh is not None:
            inserts = _headers(crh, "InsertHeaders", prefix="x-amzn-waf-")
            if not inserts:
                crh.issues.error(crh.at("InsertHeaders"), "at least one header is required")
            crh.finish()
    sub.finish()
    return Action(kind.upper(), resp, inserts)


def compile_bodies(node: Node, key: str = "CustomResponseBodies") -> dict[str, tuple[bytes, str]]:
    out: dict[str, tuple[bytes, str]] = {}
    m = node.obj(key)
    if m is None:
        return out
    for name in list(m.keys()):
        b = m.obj(name)
        if b is None:
            continue
        if not _NAME.match(name):
            b.issues.error(b.path, "body keys are 1-128 of [A-Za-z0-9_-]")
        ctype = b.enum("ContentType", tuple(CONTENT_TYPES), required=True)
        content = b.get("Content", str, required=True)
        b.finish()
        if ctype and content is not None:
            if not 1 <= len(content) <= 10240:
                b.issues.error(b.at("Content"), "content must be 1-10240 characters")
            out[name] = (content.encode(), CONTENT_TYPES[ctype])
    m.finish(informational=frozenset(m.keys()))
    return out


def compile_forwarded(node: Node | None, *, with_position: bool) -> ForwardedIP | None:
    if node is None:
        return None
    header = node.get("HeaderName", str, required=True) or "X-Forwarded-For"
    fb = node.enum("FallbackBehavior", ("MATCH", "NO_MATCH"), required=True) or "NO_MATCH"
    pos = "FIRST"
    if with_position:
        pos = node.enum("Position", ("FIRST", "LAST", "ANY"), required=True) or "FIRST"
    node.finish()
    return ForwardedIP(header, fb, pos)


# -- statements -----------------------------------------------------------------------------


def compile_regex(issues: Issues, path: str, pattern: str) -> Pattern | None:
    if not 1 <= len(pattern) <= _MAX_REGEX:
        issues.error(path, f"regex must be 1-{_MAX_REGEX} characters")
        return None
    try:
        return compile_pattern(pattern)
    except RegexCompileError as exc:
        issues.error(path, f"invalid regex: {exc}")
        return None


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
    if not _LABEL.match(key):
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


_KEY_MEMBERS = ("Header", "Cookie", "QueryArgument", "QueryString", "HTTPMethod", "ForwardedIP",
                "IP", "LabelNamespace", "UriPath", "JA3Fingerprint", "JA4Fingerprint", "ASN")


def _custom_key(node: Node) -> CustomKey | None:
    kind = node.one_of(_KEY_MEMBERS)
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


# -- rules ------------------------------------------------------------------------------------


def compile_visibility(node: Node | None) -> str:
    if node is None:
        return ""
    node.get("SampledRequestsEnabled", bool, required=True)
    node.get("CloudWatchMetricsEnabled", bool, required=True)
    metric = node.get("MetricName", str, required=True) or ""
    node.finish()
    if metric and (not _METRIC.match(metric) or len(metric) > 255):
        node.issues.error(node.at("MetricName"), f"{metric!r} is not a valid metric name")
    if metric in ("All", "Default_Action"):
        node.issues.error(node.at("MetricName"), f"{metric!r} is reserved")
    return metric


def immunity(node: Node, key: str, default: int) -> int:
    cfg = node.obj(key)
    if cfg is None:
        return default
    prop = cfg.obj("ImmunityTimeProperty")
    cfg.finish()
    if prop is None:
        return default
    val = prop.int_in("ImmunityTime", 60, 259200, required=True, default=default)
    prop.finish()
    return val if val is not None else default


def label_name(name: str, namespace: str) -> str:
    return name if name.startswith("awswaf:") else namespace + name


def compile_rules(nodes: list[Node], env: Env) -> tuple[Rule, ...]:
    rules: list[Rule] = []
    prios: dict[int, str] = {}
    names: set[str] = set()
    for n in nodes:
        r = _rule(n, env)
        if r is None:
            continue
        if r.priority in prios:
            n.issues.error(n.at("Priority"), f"priority {r.priority} is also used by "
                           f"{prios[r.priority]!r}")
        if r.name in names:
            n.issues.error(n.at("Name"), f"duplicate rule name {r.name!r}")
        prios[r.priority] = r.name
        names.add(r.name)
        rules.append(r)
    return tuple(sorted(rules, key=lambda r: r.priority))


def _rule(n: Node, env: Env) -> Rule | None:
    name = n.get("Name", str, required=True)
    prio = n.int_in("Priority", 0, None, required=True)
    if name is not None and not _NAME.match(name):
        n.issues.error(n.at("Name"), f"{name!r} is not a valid rule name")
    st_node = n.obj("Statement", required=True)
    body = compile_statement(st_node, env, top=True) if st_node is not None else None
    action = None
    override_count = False
    is_group = isinstance(body, GroupRef) or (
        st_node is not None and any(st_node.has(k) for k in TOP_ONLY[1:]))
    a = n.obj("Action")
    o = n.obj("OverrideAction")
    if is_group:
        if a is not None:
            n.issues.error(n.at("Action"), "a rule-group reference takes OverrideAction")
        if o is None:
            n.issues.error(n.at("OverrideAction"), "a rule-group reference needs OverrideAction")
        else:
            which = o.one_of(("Count", "None"))
            override_count = which == "Count"
            if which:
                o.obj(which)
            o.finish()
    else:
        if o is not None:
            n.issues.error(n.at("OverrideAction"), "only rule-group references take "
                           "OverrideAction")
        if a is None:
            n.issues.error(n.at("Action"), "required field is missing")
        else:
            action = compile_action(a, env)
    labels: list[str] = []
    for lab in n.objs("RuleLabels"):
        ln = lab.get("Name", str, required=True)
        lab.finish()
        if ln is None:
            continue
        if not _LABEL.match(ln):
            lab.issues.error(lab.at("Name"), f"{ln!r} is not a valid label")
        labels.append(label_name(ln, env.namespace))
    metric = compile_visibility(n.obj("VisibilityConfig", required=True))
    cap = immunity(n, "CaptchaConfig", env.captcha_immunity)
    chal = immunity(n, "ChallengeConfig", env.challenge_immunity)
    n.finish()
    if name is None or prio is None or body is None:
        return None
    if not is_group and action is None:
        return None
    return Rule(name, prio, body, action, override_count, tuple(labels), metric or name,
                cap, chal)
