"""Variables: how each SecLang variable name turns into (name, value) pairs of a transaction.

Collection variables yield one pair per key (``ARGS:foo``), with the key selector and the
exclusions of the rule applied; scalar variables yield one pair (or none when the value does
not exist, so a rule on a missing variable never runs its operator). ``&VAR`` yields the count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from bastion.waf.seclang.collections import MultiMap, VarMap
from bastion.waf.seclang.rules import Target

if TYPE_CHECKING:
    from bastion.waf.seclang.transaction import Transaction

__all__ = ["COLLECTIONS", "SCALARS", "generate", "has_keyed", "keyed_values", "known_variable",
           "multimap_of"]

Pairs = list[tuple[str, str]]  # (key, value) for collections


def _args(tx: Transaction) -> list[tuple[str, str]]:
    return tx.args_get.pairs + tx.args_post.pairs


def _names(items: Iterable[tuple[str, str]]) -> Pairs:
    return [(k, k) for k, _ in items]


COLLECTIONS: dict[str, Callable[[Transaction], Iterable[tuple[str, str]]]] = {
    "ARGS": _args,
    "ARGS_NAMES": lambda tx: _names(_args(tx)),
    "ARGS_GET": lambda tx: tx.args_get,
    "ARGS_GET_NAMES": lambda tx: _names(tx.args_get),
    "ARGS_POST": lambda tx: tx.args_post,
    "ARGS_POST_NAMES": lambda tx: _names(tx.args_post),
    "REQUEST_HEADERS": lambda tx: tx.request_headers,
    "REQUEST_HEADERS_NAMES": lambda tx: _names(tx.request_headers),
    "REQUEST_COOKIES": lambda tx: tx.cookies,
    "REQUEST_COOKIES_NAMES": lambda tx: _names(tx.cookies),
    "RESPONSE_HEADERS": lambda tx: tx.response_headers,
    "RESPONSE_HEADERS_NAMES": lambda tx: _names(tx.response_headers),
    "FILES": lambda tx: tx.files,
    "FILES_NAMES": lambda tx: _names(tx.files),
    "FILES_SIZES": lambda tx: tx.files_sizes,
    "FILES_TMPNAMES": lambda tx: (),
    "MULTIPART_PART_HEADERS": lambda tx: tx.multipart_part_headers,
    "MATCHED_VARS": lambda tx: list(tx.matched_vars),
    "MATCHED_VARS_NAMES": lambda tx: [(k, k) for k, _ in tx.matched_vars],
    "GEO": lambda tx: (),
    "ENV": lambda tx: (),
    "RULE": lambda tx: tx.rule_metadata(),
}

PERSISTENT = ("TX", "IP", "GLOBAL", "SESSION", "USER", "RESOURCE")
#: Collections nothing fills here (no GeoIP database, no environment exposed to rules).
ALWAYS_EMPTY = frozenset({"GEO", "ENV", "FILES_TMPNAMES"})


def _str(v: object) -> str | None:
    return None if v is None else str(v)


SCALARS: dict[str, Callable[[Transaction], str | None]] = {
    "REMOTE_ADDR": lambda tx: tx.remote_addr,
    "REMOTE_HOST": lambda tx: tx.remote_addr,
    "REMOTE_PORT": lambda tx: str(tx.remote_port),
    "SERVER_ADDR": lambda tx: tx.server_addr,
    "SERVER_PORT": lambda tx: str(tx.server_port),
    "SERVER_NAME": lambda tx: tx.server_name,
    "REQUEST_METHOD": lambda tx: tx.method,
    "REQUEST_PROTOCOL": lambda tx: tx.protocol,
    "REQUEST_LINE": lambda tx: tx.request_line,
    "REQUEST_URI": lambda tx: tx.request_uri,
    "REQUEST_URI_RAW": lambda tx: tx.request_uri_raw,
    "REQUEST_FILENAME": lambda tx: tx.request_filename,
    "REQUEST_BASENAME": lambda tx: tx.request_basename,
    "QUERY_STRING": lambda tx: tx.query_string,
    "PATH_INFO": lambda tx: None,
    "AUTH_TYPE": lambda tx: None,
    "REQUEST_BODY": lambda tx: tx.request_body_var(),
    "REQUEST_BODY_LENGTH": lambda tx: str(len(tx.request_body)),
    "REQBODY_PROCESSOR": lambda tx: tx.body_processor or "",
    "REQBODY_ERROR": lambda tx: "1" if tx.reqbody_error else "0",
    "REQBODY_ERROR_MSG": lambda tx: tx.reqbody_error_msg,
    "REQBODY_PROCESSOR_ERROR": lambda tx: "1" if tx.reqbody_error else "0",
    "REQBODY_PROCESSOR_ERROR_MSG": lambda tx: tx.reqbody_error_msg,
    "ARGS_COMBINED_SIZE": lambda tx: str(tx.args_combined_size()),
    "FILES_COMBINED_SIZE": lambda tx: str(sum(int(v) for _, v in tx.files_sizes))
    if tx.files_sizes else "0",
    "MATCHED_VAR": lambda tx: tx.matched_var,
    "MATCHED_VAR_NAME": lambda tx: tx.matched_var_name,
    "UNIQUE_ID": lambda tx: tx.unique_id,
    "DURATION": lambda tx: str(tx.duration_usec()),
    "TIME_EPOCH": lambda tx: str(int(tx.started)),
    "RESPONSE_STATUS": lambda tx: _str(tx.response_status),
    "RESPONSE_PROTOCOL": lambda tx: tx.response_protocol,
    "RESPONSE_BODY": lambda tx: tx.response_body_var(),
    "RESPONSE_CONTENT_TYPE": lambda tx: tx.response_headers.first("content-type"),
    "RESPONSE_CONTENT_LENGTH": lambda tx: tx.response_headers.first("content-length"),
    "STATUS_LINE": lambda tx: None,
    "HIGHEST_SEVERITY": lambda tx: str(tx.highest_severity),
    "INBOUND_DATA_ERROR": lambda tx: "1" if tx.inbound_data_error else "0",
    "OUTBOUND_DATA_ERROR": lambda tx: "0",
    "URLENCODED_ERROR": lambda tx: "1" if tx.urlencoded_error else "0",
    "MULTIPART_STRICT_ERROR": lambda tx: tx.multipart_flag("STRICT_ERROR"),
    "MULTIPART_UNMATCHED_BOUNDARY": lambda tx: tx.multipart_flag("UNMATCHED_BOUNDARY"),
    "MULTIPART_BOUNDARY_QUOTED": lambda tx: tx.multipart_flag("BOUNDARY_QUOTED"),
    "MULTIPART_BOUNDARY_WHITESPACE": lambda tx: tx.multipart_flag("BOUNDARY_WHITESPACE"),
    "MULTIPART_DATA_BEFORE": lambda tx: tx.multipart_flag("DATA_BEFORE"),
    "MULTIPART_DATA_AFTER": lambda tx: tx.multipart_flag("DATA_AFTER"),
    "MULTIPART_HEADER_FOLDING": lambda tx: tx.multipart_flag("HEADER_FOLDING"),
    "MULTIPART_LF_LINE": lambda tx: tx.multipart_flag("LF_LINE"),
    "MULTIPART_CRLF_LF_LINES": lambda tx: tx.multipart_flag("CRLF_LF_LINES"),
    "MULTIPART_MISSING_SEMICOLON": lambda tx: tx.multipart_flag("MISSING_SEMICOLON"),
    "MULTIPART_INVALID_QUOTING": lambda tx: tx.multipart_flag("INVALID_QUOTING"),
    "MULTIPART_INVALID_PART": lambda tx: tx.multipart_flag("INVALID_PART"),
    "MULTIPART_INVALID_HEADER_FOLDING": lambda tx: tx.multipart_flag("INVALID_HEADER_FOLDING"),
    "MULTIPART_FILE_LIMIT_EXCEEDED": lambda tx: tx.multipart_flag("FILE_LIMIT_EXCEEDED"),
    "MULTIPART_FILENAME": lambda tx: tx.multipart_last_filename,
    "MULTIPART_NAME": lambda tx: tx.multipart_last_name,
    "FULL_REQUEST": lambda tx: tx.full_request(),
    "FULL_REQUEST_LENGTH": lambda tx: str(len(tx.full_request())),
    "WEBSERVER_ERROR_LOG": lambda tx: None,
    "USERID": lambda tx: None,
    "SESSIONID": lambda tx: None,
    "WEBAPPID": lambda tx: "default",
}


def known_variable(name: str) -> bool:
    return name in COLLECTIONS or name in SCALARS or name in PERSISTENT or name == "XML"


def _excluded(name: str, key: str, exclusions: Iterable[Target]) -> bool:
    for ex in exclusions:
        if ex.name == name and ex.matches_key(key):
            return True
    return False


_MULTIMAPS: dict[str, Callable[[Transaction], MultiMap]] = {
    "ARGS_GET": lambda tx: tx.args_get,
    "ARGS_POST": lambda tx: tx.args_post,
    "REQUEST_HEADERS": lambda tx: tx.request_headers,
    "REQUEST_COOKIES": lambda tx: tx.cookies,
    "RESPONSE_HEADERS": lambda tx: tx.response_headers,
    "FILES": lambda tx: tx.files,
    "FILES_SIZES": lambda tx: tx.files_sizes,
    "MULTIPART_PART_HEADERS": lambda tx: tx.multipart_part_headers,
}


def _keyed(tx: Transaction, name: str, key: str) -> list[tuple[str, str]] | None:
    """Fast path for a literal key: a dictionary look-up instead of a scan."""
    if name in PERSISTENT:
        coll = tx.collection(name)
        item = coll.get_item(key) if coll is not None else None
        return [item] if item is not None else []
    if name in _MULTIMAPS:
        return _MULTIMAPS[name](tx).get_items(key)
    if name == "ARGS":
        return tx.args_get.get_items(key) + tx.args_post.get_items(key)
    if name == "ARGS_NAMES":
        return [(k, k) for k, _ in tx.args_get.get_items(key) + tx.args_post.get_items(key)]
    return None


class VarMapItems:
    """A persistent collection's (key, value) pairs, with its lower-case keys at hand."""

    __slots__ = ("pairs",)

    def __init__(self, coll: VarMap) -> None:
        self.pairs = coll.lowered_items()

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter([item for _, item in self.pairs])


_LITERAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-:@ ")
_ESCAPED_LITERALS = frozenset("/-_.:[](){}*+?|^$\\ ")
_literals: dict[str, str] = {}


def required_literal(pattern: str) -> str:
    """Lower-case text every key a ``key_regex`` matches must contain ("" when unsure): the
    leading literal run of a pattern without alternation, e.g. ``header_name_`` for
    ``^header_name_`` or ``multipart_headers_content_types`` for ``..._TYPES_*``."""
    got = _literals.get(pattern)
    if got is not None:
        return got
    out: list[str] = []
    if "|" not in pattern:
        i = 1 if pattern.startswith("^") else 0
        while i < len(pattern):
            c = pattern[i]
            if c == "\\" and i + 1 < len(pattern) and pattern[i + 1] in _ESCAPED_LITERALS:
                ch, step = pattern[i + 1], 2
            elif c in _LITERAL_CHARS:
                ch, step = c, 1
            else:
                break
            if pattern[i + step:i + step + 1] in ("*", "?", "{"):
                break  # this character may be absent
            out.append(ch)
            i += step
    got = "".join(out).lower()
    if len(_literals) < 4096:
        _literals[pattern] = got
    return got


def multimap_of(name: str) -> Callable[[Transaction], MultiMap] | None:
    """The accessor of a collection kept as one ``MultiMap`` (headers, cookies...), else None."""
    return _MULTIMAPS.get(name)


def has_keyed(name: str) -> bool:
    """Whether ``keyed_values`` can select a literal key of collection ``name``."""
    return name in _MULTIMAPS or name in ("ARGS", "ARGS_NAMES")


def keyed_values(tx: Transaction, name: str, key: str) -> list[tuple[str, str]] | None:
    """(key, value) pairs of collection ``name`` under the literal ``key`` (no exclusions)."""
    if name in PERSISTENT:
        return None
    return _keyed(tx, name, key)


def generate(tx: Transaction, target: Target, exclusions: list[Target]) -> list[tuple[str, str]]:
    """(display name, value) pairs for one target, selectors and exclusions applied."""
    name = target.name
    if name == "XML":
        vals = tx.xml_values(target.key)
        if target.count:
            return [(f"&{name}", str(len(vals)))]
        return [("XML", v) for v in vals]
    if name in SCALARS:
        v = SCALARS[name](tx)
        if target.count:
            return [(f"&{name}", "0" if v is None else "1")]
        if v is None or (exclusions and any(ex.name == name for ex in exclusions)):
            return []
        return [(name, v)]
    items: Iterable[tuple[str, str]] | None = None
    selected = target.key_regex is not None
    if target.key is not None and target.key_regex is None:
        items = _keyed(tx, name, target.key)
        if items is None:
            selected = True
    if items is None:
        if name in PERSISTENT:
            coll = tx.collection(name)
            items = VarMapItems(coll) if coll is not None else ()
        elif name in COLLECTIONS:
            items = COLLECTIONS[name](tx)
        else:
            return []
    out: list[tuple[str, str]] = []
    relevant = [ex for ex in exclusions if ex.name == name] if exclusions else None
    if selected and not relevant and target.key_regex is not None:
        # TX:/^header_name_/ and friends: one regex search per key, no method calls, and for
        # TX a substring test first (the pattern's required literal, in lower case)
        search = target.key_regex.search
        if isinstance(items, VarMapItems):
            lit = required_literal(target.key_regex.pattern)
            found = tx.tx_matching(target.key_regex, lit) if name == "TX" else None
            if found is not None:
                out = [(f"TX:{key}", value) for key, value in found]
            else:
                out = [(f"{name}:{key}", value) for low, (key, value) in items.pairs
                       if lit in low and search(key) is not None]
        else:
            out = [(f"{name}:{key}", value) for key, value in items if search(key) is not None]
        if target.count:
            return [(f"&{target.render()[1:]}", str(len(out)))]
        return out
    if not selected and not relevant:   # the whole collection
        prefix = name + ":"
        out = [(prefix + key, value) for key, value in items]
        if target.count:
            return [(f"&{target.render()[1:]}", str(len(out)))]
        return out
    for key, value in items:
        if selected and not target.matches_key(key):
            continue
        if relevant and any(ex.matches_key(key) for ex in relevant):
            continue
        out.append((f"{name}:{key}", value))
    if target.count:
        return [(f"&{target.render()[1:]}", str(len(out)))]
    return out
