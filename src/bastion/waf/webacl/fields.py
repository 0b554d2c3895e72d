"""FieldToMatch: which part of the request a statement inspects, compiled once per statement.

``Field.extract(ctx)`` returns either a forced verdict (``True``/``False``: OversizeHandling
MATCH/NO_MATCH, a JSON fallback) or the list of byte strings to inspect; a statement matches
when any of them matches. Limits follow AWS: the body up to the configured inspection limit
(8/16/32/64 KB), headers and cookies up to the first 8 KB and 200 entries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bastion.waf.webacl.jsonnode import Node
from bastion.waf.webacl.jsonscan import scan
from bastion.waf.webacl.request import split_query
from bastion.waf.webacl.transforms import apply_chain

if TYPE_CHECKING:
    from bastion.waf.webacl.context import EvalContext

__all__ = ["FIELD_MEMBERS", "Field", "compile_field"]

HEADER_LIMIT_BYTES = 8192
HEADER_LIMIT_COUNT = 200

FIELD_MEMBERS = (
    "SingleHeader", "SingleQueryArgument", "AllQueryArguments", "UriPath", "QueryString", "Body",
    "Method", "JsonBody", "Headers", "Cookies", "HeaderOrder", "JA3Fingerprint",
    "JA4Fingerprint", "UriFragment",
)
_OVERSIZE = ("CONTINUE", "MATCH", "NO_MATCH")
_SCOPES = ("ALL", "KEY", "VALUE")

Extracted = bool | list[bytes]


@dataclass(frozen=True, slots=True)
class Field:
    """A compiled FieldToMatch. ``kind`` is the WAFv2 member name."""

    kind: str
    name: str = ""  # SingleHeader / SingleQueryArgument name (lower-cased for headers)
    included: frozenset[str] | None = None  # Headers/Cookies IncludedX (JsonBody: pointers)
    excluded: frozenset[str] | None = None
    scope: str = "ALL"
    oversize: str = "CONTINUE"
    fallback: str | None = None  # JsonBody InvalidFallbackBehavior / UriFragment FallbackBehavior
    pointers: tuple[str, ...] = ()
    semicolons: bool = False  # pre-parse transformations on query arguments
    combine: bool = False
    pre_chain: tuple[str, ...] = ()
    cache_key: tuple[Any, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        # Computed once: the per-request cache of transformed values is keyed on it.
        object.__setattr__(self, "cache_key", (
            self.kind, self.name, self.included, self.excluded, self.scope, self.oversize,
            self.fallback, self.pointers, self.semicolons, self.combine, self.pre_chain))

    def extract(self, ctx: EvalContext) -> Extracted:
        return _EXTRACT[self.kind](self, ctx)


def _latin(s: str) -> bytes:
    """Header and URI text arrives latin-1 decoded from the ASGI server: undo it losslessly."""
    try:
        return s.encode("latin-1")
    except UnicodeEncodeError:
        return s.encode("utf-8")


def _uri(f: Field, ctx: EvalContext) -> Extracted:
    return [_latin(ctx.request.uri_path)]


def _query(f: Field, ctx: EvalContext) -> Extracted:
    return [_latin(ctx.request.query)]


def _method(f: Field, ctx: EvalContext) -> Extracted:
    return [ctx.request.method.encode("ascii", "replace")]


def _args(f: Field, ctx: EvalContext) -> list[tuple[str, str]]:
    if not (f.pre_chain or f.semicolons or f.combine):
        return ctx.request.query_args
    raw = apply_chain(f.pre_chain, _latin(ctx.request.query)).decode("latin-1")
    return split_query(raw, semicolons=f.semicolons, combine=f.combine)


def _single_arg(f: Field, ctx: EvalContext) -> Extracted:
    return [_latin(v) for k, v in _args(f, ctx) if k.lower() == f.name]


def _all_args(f: Field, ctx: EvalContext) -> Extracted:
    return [_latin(v) for _, v in _args(f, ctx)]


def _single_header(f: Field, ctx: EvalContext) -> Extracted:
    return [_latin(v) for k, v in ctx.request.headers if k.lower() == f.name]


def _map(f: Field, ctx: EvalContext, pairs: list[tuple[str, str]], case_fold: bool) -> Extracted:
    """Headers/Cookies: filter by pattern, cut at 8 KB / 200 entries, apply OversizeHandling."""
    total = 0
    kept: list[tuple[str, str]] = []
    oversize = len(pairs) > HEADER_LIMIT_COUNT
    for i, (k, v) in enumerate(pairs):
        total += len(k) + len(v) + 4
        if i >= HEADER_LIMIT_COUNT or total > HEADER_LIMIT_BYTES:
            oversize = True
            break
        kept.append((k, v))
    if oversize:
        ctx.oversize_fields.add("REQUEST_HEADERS" if case_fold else "REQUEST_COOKIES")
        if f.oversize != "CONTINUE":
            return f.oversize == "MATCH"
    out: list[bytes] = []
    for k, v in kept:
        key = k.lower() if case_fold else k
        if f.included is not None and key not in f.included:
            continue
        if f.excluded is not None and key in f.excluded:
            continue
        if f.scope in ("KEY", "ALL"):
            out.append(_latin(k))
        if f.scope in ("VALUE", "ALL"):
            out.append(_latin(v))
    return out


def _headers(f: Field, ctx: EvalContext) -> Extracted:
    return _map(f, ctx, list(ctx.request.headers), True)


def _cookies(f: Field, ctx: EvalContext) -> Extracted:
    return _map(f, ctx, ctx.request.cookies, False)


def _header_order(f: Field, ctx: EvalContext) -> Extracted:
    """``host:user-agent:accept``: lower-cased names joined by colons, as AWS documents it."""
    names = [k.lower() for k, _ in ctx.request.headers]
    if len(names) > HEADER_LIMIT_COUNT and f.oversize != "CONTINUE":
        return f.oversize == "MATCH"
    return [_latin(":".join(names[:HEADER_LIMIT_COUNT]))]


def _body_slice(f: Field, ctx: EvalContext) -> bytes | bool:
    body = ctx.request.body
    limit = ctx.body_limit
    if len(body) > limit:
        ctx.oversize_fields.add("REQUEST_JSON_BODY" if f.kind == "JsonBody" else "REQUEST_BODY")
        if f.oversize != "CONTINUE":
            return f.oversize == "MATCH"
        return body[:limit]
    return body


def _body(f: Field, ctx: EvalContext) -> Extracted:
    b = _body_slice(f, ctx)
    return b if isinstance(b, bool) else [b]


def _pointer_path(ptr: str) -> tuple[str, ...]:
    if ptr in ("", "/"):
        return ()
    return tuple(p.replace("~1", "/").replace("~0", "~") for p in ptr.split("/")[1:])


def _json_body(f: Field, ctx: EvalContext) -> Extracted:
    b = _body_slice(f, ctx)
    if isinstance(b, bool):
        return b
    if not b:
        return []
    events, ok = scan(b.decode("utf-8", "surrogateescape"))
    if not ok:
        if f.fallback == "EVALUATE_AS_STRING":
            return [b]
        if f.fallback is not None:
            return f.fallback == "MATCH"
        # No fallback: AWS evaluates what it parsed before the first failure; so do we.
    want_keys = f.scope in ("KEY", "ALL")
    want_values = f.scope in ("VALUE", "ALL")
    roots = [_pointer_path(p) for p in f.pointers] if f.pointers else [()]
    out: list[bytes] = []
    for path, kind, text in events:
        if kind == "key" and not want_keys or kind == "value" and not want_values:
            continue
        for root in roots:
            n = len(root)
            if path[:n] == root and (kind == "value" or len(path) > n):
                out.append(text.encode("utf-8", "surrogateescape"))
                break
    return out


def _absent(f: Field, ctx: EvalContext) -> Extracted:
    """UriFragment never reaches a server, JA3/JA4 need the TLS handshake: the fallback applies."""
    return f.fallback == "MATCH"


_EXTRACT = {
    "UriPath": _uri, "QueryString": _query, "Method": _method,
    "SingleQueryArgument": _single_arg, "AllQueryArguments": _all_args,
    "SingleHeader": _single_header, "Headers": _headers, "Cookies": _cookies,
    "HeaderOrder": _header_order, "Body": _body, "JsonBody": _json_body,
    "UriFragment": _absent, "JA3Fingerprint": _absent, "JA4Fingerprint": _absent,
}


def compile_field(node: Node, pre_chain: tuple[str, ...] = (), semicolons: bool = False,
                  combine: bool = False) -> Field | None:
    """Compile a FieldToMatch object; issues go to ``node.issues`` with their JSON path."""
    kind = node.one_of(FIELD_MEMBERS)
    if kind is None:
        return None
    sub = node.obj(kind)
    node.finish()
    if sub is None:
        return None
    if (pre_chain or semicolons or combine) and kind not in (
        "SingleQueryArgument", "AllQueryArguments"
    ):
        node.issues.error(node.path, "PreParseTextTransformations need a query-argument field")
    f: Field | None
    if kind in ("SingleHeader", "SingleQueryArgument"):
        name = sub.get("Name", str, required=True) or ""
        f = Field(kind, name=name.lower(), pre_chain=pre_chain, semicolons=semicolons,
                  combine=combine)
    elif kind in ("Headers", "Cookies"):
        f = _compile_map(kind, sub)
    elif kind == "JsonBody":
        f = _compile_json(sub)
    elif kind in ("Body", "HeaderOrder"):
        f = Field(kind, oversize=sub.enum("OversizeHandling", _OVERSIZE,
                                          required=kind == "HeaderOrder", default="CONTINUE")
                  or "CONTINUE")
    elif kind in ("UriFragment", "JA3Fingerprint", "JA4Fingerprint"):
        fb = sub.enum("FallbackBehavior", ("MATCH", "NO_MATCH"), required=kind != "UriFragment",
                      default="NO_MATCH")
        if kind != "UriFragment":
            node.issues.unsupported(
                node.at(kind), "TLS fingerprints are not available to Bastion; "
                "every request takes the FallbackBehavior")
        f = Field(kind, fallback=fb)
    else:
        f = Field(kind, pre_chain=pre_chain, semicolons=semicolons, combine=combine)
    sub.finish()
    return f


def _compile_map(kind: str, sub: Node) -> Field:
    pat = sub.obj("MatchPattern", required=True)
    scope = sub.enum("MatchScope", _SCOPES, required=True, default="ALL") or "ALL"
    oversize = sub.enum("OversizeHandling", _OVERSIZE, required=True,
                        default="CONTINUE") or "CONTINUE"
    inc = exc = None
    label = "Headers" if kind == "Headers" else "Cookies"
    fold = kind == "Headers"
    if pat is not None:
        which = pat.one_of(("All", f"Included{label}", f"Excluded{label}"))
        if which and which != "All":
            names = frozenset(n.lower() if fold else n for n in pat.strs(which))
            if which.startswith("Included"):
                inc = names
            else:
                exc = names
        elif which == "All":
            pat.obj("All")
        pat.finish()
    return Field(kind, included=inc, excluded=exc, scope=scope, oversize=oversize)


def _compile_json(sub: Node) -> Field:
    pat = sub.obj("MatchPattern", required=True)
    scope = sub.enum("MatchScope", _SCOPES, required=True, default="ALL") or "ALL"
    fallback = sub.enum("InvalidFallbackBehavior", ("MATCH", "NO_MATCH", "EVALUATE_AS_STRING"))
    oversize = sub.enum("OversizeHandling", _OVERSIZE, default="CONTINUE") or "CONTINUE"
    pointers: tuple[str, ...] = ()
    if pat is not None:
        which = pat.one_of(("All", "IncludedPaths"))
        if which == "IncludedPaths":
            pointers = tuple(pat.strs("IncludedPaths"))
            for i, p in enumerate(pointers):
                if not p.startswith("/"):
                    pat.issues.error(f"{pat.at('IncludedPaths')}[{i}]",
                                     f"{p!r} is not a JSON pointer")
        elif which == "All":
            pat.obj("All")
        pat.finish()
    return Field("JsonBody", scope=scope, oversize=oversize, fallback=fallback,
                 pointers=pointers)
