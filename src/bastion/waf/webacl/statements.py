"""Compiled, immutable WAFv2 match statements; ``match(ctx)`` answers for one request.

Each class is the runtime form of one WAFv2 statement type. They hold only compiled data
(regexes, interval tables, sorted transformation chains), so one Web ACL is shared by every
request and every task. Rate-based and rule-group statements are not here: they need state or
nested rules and live in ``rules.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bastion.waf.webacl.context import SQLI_HIGH_EXTRA, EvalContext
from bastion.waf.webacl.fields import Field
from bastion.waf.webacl.ipranges import IPRanges, parse_ip
from bastion.waf.webacl.regex import Pattern

__all__ = [
    "AndStatement",
    "ByteMatch",
    "ForwardedIP",
    "GeoMatch",
    "IPListMatch",
    "IPSetMatch",
    "LabelMatch",
    "NotStatement",
    "OrStatement",
    "RegexMatch",
    "SizeConstraint",
    "SqliMatch",
    "Statement",
    "XssMatch",
    "forwarded_ips",
]


class Statement(Protocol):
    def match(self, ctx: EvalContext) -> bool: ...


_WORD = re.compile(rb"[A-Za-z0-9_]")


def _contains_word(hay: bytes, needle: bytes) -> bool:
    start = 0
    while True:
        i = hay.find(needle, start)
        if i < 0:
            return False
        j = i + len(needle)
        before = i == 0 or not _WORD.match(hay, i - 1)
        after = j == len(hay) or not _WORD.match(hay, j)
        if before and after:
            return True
        start = i + 1


_POSITIONAL: dict[str, Callable[[bytes, bytes], bool]] = {
    "EXACTLY": lambda h, n: h == n,
    "STARTS_WITH": lambda h, n: h.startswith(n),
    "ENDS_WITH": lambda h, n: h.endswith(n),
    "CONTAINS": lambda h, n: n in h,
    "CONTAINS_WORD": _contains_word,
}


def _any(ctx: EvalContext, fld: Field, chain: tuple[str, ...],
         pred: Callable[[bytes], bool]) -> bool:
    vals = ctx.values(fld, chain)
    if isinstance(vals, bool):
        return vals
    return any(pred(v) for v in vals)


@dataclass(frozen=True, slots=True)
class ByteMatch:
    field: Field
    chain: tuple[str, ...]
    search: bytes
    positional: str

    def match(self, ctx: EvalContext) -> bool:
        test = _POSITIONAL[self.positional]
        s = self.search
        return _any(ctx, self.field, self.chain, lambda v: test(v, s))


@dataclass(frozen=True, slots=True)
class RegexMatch:
    """RegexMatchStatement and RegexPatternSetReferenceStatement (any pattern matches)."""

    field: Field
    chain: tuple[str, ...]
    patterns: tuple[Pattern, ...]

    def match(self, ctx: EvalContext) -> bool:
        pats = self.patterns
        return _any(ctx, self.field, self.chain, lambda v: any(p.search(v) for p in pats))


_COMPARE: dict[str, Callable[[int, int], bool]] = {
    "EQ": lambda a, b: a == b, "NE": lambda a, b: a != b, "LE": lambda a, b: a <= b,
    "LT": lambda a, b: a < b, "GE": lambda a, b: a >= b, "GT": lambda a, b: a > b,
}


@dataclass(frozen=True, slots=True)
class SizeConstraint:
    field: Field
    chain: tuple[str, ...]
    operator: str
    size: int

    def match(self, ctx: EvalContext) -> bool:
        cmp = _COMPARE[self.operator]
        n = self.size
        return _any(ctx, self.field, self.chain, lambda v: cmp(len(v), n))


_LOCATION = {
    "UriPath": "URI", "QueryString": "QUERY_STRING", "SingleQueryArgument": "QUERY_STRING",
    "AllQueryArguments": "QUERY_STRING", "SingleHeader": "HEADER", "Headers": "HEADER",
    "Cookies": "COOKIE", "Body": "BODY", "JsonBody": "BODY", "Method": "METHOD",
}


def _detail(ctx: EvalContext, kind: str, fld: Field, data: bytes, level: str | None) -> None:
    d: dict[str, object] = {
        "conditionType": kind,
        "location": _LOCATION.get(fld.kind, fld.kind.upper()),
        "matchedData": [t for t in data[:256].decode("utf-8", "replace").split() if t][:10],
    }
    if level is not None:
        d["sensitivityLevel"] = level
    if fld.kind in ("SingleHeader", "SingleQueryArgument"):
        d["matchedFieldName"] = fld.name
    ctx.details.append(d)


@dataclass(frozen=True, slots=True)
class SqliMatch:
    field: Field
    chain: tuple[str, ...]
    sensitivity: str = "LOW"

    def match(self, ctx: EvalContext) -> bool:
        vals = ctx.values(self.field, self.chain)
        if isinstance(vals, bool):
            return vals
        det = ctx.detect()
        for v in vals:
            hit = det.is_sqli(v)[0] or (self.sensitivity == "HIGH" and SQLI_HIGH_EXTRA(v))
            if hit:
                _detail(ctx, "SQL_INJECTION", self.field, v, self.sensitivity)
                return True
        return False


@dataclass(frozen=True, slots=True)
class XssMatch:
    field: Field
    chain: tuple[str, ...]

    def match(self, ctx: EvalContext) -> bool:
        vals = ctx.values(self.field, self.chain)
        if isinstance(vals, bool):
            return vals
        det = ctx.detect()
        for v in vals:
            if det.is_xss(v):
                _detail(ctx, "XSS", self.field, v, None)
                return True
        return False


@dataclass(frozen=True, slots=True)
class ForwardedIP:
    """ForwardedIPConfig / IPSetForwardedIPConfig: which header and which address in it."""

    header: str
    fallback: str  # MATCH | NO_MATCH, for a malformed value
    position: str = "FIRST"  # FIRST | LAST | ANY (IP sets only)


def forwarded_ips(ctx: EvalContext, cfg: ForwardedIP) -> list[str] | bool | None:
    """The addresses to test, ``None`` when the header is absent (the rule does not apply),
    or the fallback verdict when the value is malformed."""
    raw = ctx.request.header(cfg.header)
    if raw is None:
        return None
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    if cfg.position == "FIRST":
        parts = parts[:1]
    elif cfg.position == "LAST":
        parts = parts[-1:]
    else:
        parts = parts[:10]  # AWS inspects at most 10 addresses with ANY
    out: list[str] = []
    for p in parts:
        addr = parse_ip(p)
        if addr is None:
            if cfg.position != "ANY":
                return cfg.fallback == "MATCH"
            continue
        out.append(str(addr))
    if not out:
        return cfg.fallback == "MATCH"
    return out


@dataclass(frozen=True, slots=True)
class IPSetMatch:
    ranges: IPRanges
    forwarded: ForwardedIP | None = None

    def match(self, ctx: EvalContext) -> bool:
        if self.forwarded is None:
            key = ctx.client_key()
            return key is not None and self.ranges.contains_key(key)
        ips = forwarded_ips(ctx, self.forwarded)
        if ips is None:
            return False
        if isinstance(ips, bool):
            return ips
        return any(ip in self.ranges for ip in ips)


@dataclass(frozen=True, slots=True)
class IPListMatch:
    """A reloadable list (IP reputation) looked up at request time through ``source()``."""

    source: Callable[[], IPRanges]
    forwarded: ForwardedIP | None = None

    def match(self, ctx: EvalContext) -> bool:
        ranges = self.source()
        if self.forwarded is None:
            key = ctx.client_key()
            return key is not None and ranges.contains_key(key)
        ips = forwarded_ips(ctx, self.forwarded)
        if ips is None:
            return False
        if isinstance(ips, bool):
            return ips
        return any(ip in ranges for ip in ips)


@dataclass(frozen=True, slots=True)
class GeoMatch:
    countries: frozenset[str]
    forwarded: ForwardedIP | None = None

    def match(self, ctx: EvalContext) -> bool:
        if self.forwarded is None:
            country = ctx.country_of(ctx.request.client_ip, client=True)
            prefix = "awswaf:clientip:geo:country:"
        else:
            ips = forwarded_ips(ctx, self.forwarded)
            if ips is None:
                return False
            if isinstance(ips, bool):
                return ips
            country = ctx.country_of(ips[0], client=False)
            prefix = "awswaf:forwardedip:geo:country:"
        if country is None:
            return False
        ctx.add_label(prefix + country)
        return country in self.countries


@dataclass(frozen=True, slots=True)
class LabelMatch:
    """LabelMatchStatement. ``context`` is the namespace of the web ACL or rule group the
    statement sits in (``awswaf:111122223333:webacl:name:``); a key that is not fully qualified
    matches labels added in that context, as AWS documents."""

    scope: str  # LABEL | NAMESPACE
    key: str
    context: str

    def match(self, ctx: EvalContext) -> bool:
        key = self.key
        qualified = key.startswith("awswaf:")
        if self.scope == "LABEL":
            if qualified:
                return key in ctx.label_set
            tail = ":" + key
            return any(lab.startswith(self.context) and
                       (lab == self.context + key or lab.endswith(tail))
                       for lab in ctx.labels)
        ns = key if key.endswith(":") else key + ":"
        if qualified:
            return any(lab.startswith(ns) for lab in ctx.labels)
        return any(lab.startswith(self.context) and
                   (lab[len(self.context):].startswith(ns) or
                    (":" + ns) in lab[len(self.context) - 1:])
                   for lab in ctx.labels)


@dataclass(frozen=True, slots=True)
class AndStatement:
    statements: tuple[Statement, ...]

    def match(self, ctx: EvalContext) -> bool:
        return all(s.match(ctx) for s in self.statements)


@dataclass(frozen=True, slots=True)
class OrStatement:
    statements: tuple[Statement, ...]

    def match(self, ctx: EvalContext) -> bool:
        return any(s.match(ctx) for s in self.statements)


@dataclass(frozen=True, slots=True)
class NotStatement:
    statement: Statement

    def match(self, ctx: EvalContext) -> bool:
        return not self.statement.match(ctx)
