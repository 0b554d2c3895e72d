"""Shared pieces of WAFv2 compilation: the environment a document compiles in, text
transformations, actions, custom responses and bodies, forwarded-IP configs, regexes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bastion.waf.webacl.ipranges import IPRanges
from bastion.waf.webacl.issues import Issues
from bastion.waf.webacl.jsonnode import Node
from bastion.waf.webacl.model import (
    CONTENT_TYPES,
    Action,
    CrsInspector,
    CustomResponse,
    RuleGroup,
)
from bastion.waf.webacl.regex import Pattern, RegexCompileError, compile_pattern
from bastion.waf.webacl.statements import (
    ForwardedIP,
)
from bastion.waf.webacl.transforms import PRE_PARSE_TYPES, TRANSFORMS, compile_chain

__all__ = [
    "Env",
    "ManagedGroup",
    "compile_action",
    "compile_bodies",
    "compile_custom_response",
    "compile_forwarded",
    "compile_regex",
    "compile_transforms",
]

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
METRIC_RE = re.compile(r"^[\w#:.\-/]+$")
NAME_RE = re.compile(r"^[\w\-]+$")
LABEL_RE = re.compile(r"^[0-9A-Za-z_\-:]+$")
HEADER_NAME_RE = re.compile(r"^[a-zA-Z0-9._$-]+$")
MAX_REGEX = 512


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
        if not HEADER_NAME_RE.match(name) or len(name) > 64:
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
        if not NAME_RE.match(name):
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



def compile_regex(issues: Issues, path: str, pattern: str) -> Pattern | None:
    if not 1 <= len(pattern) <= MAX_REGEX:
        issues.error(path, f"regex must be 1-{MAX_REGEX} characters")
        return None
    try:
        return compile_pattern(pattern)
    except RegexCompileError as exc:
        issues.error(path, f"invalid regex: {exc}")
        return None


