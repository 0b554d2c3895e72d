"""Request body processors: urlencoded, multipart (with ModSecurity's strict flags), JSON, XML.

All of them work on latin-1 strings (one character per byte) and return plain data; the
transaction copies it into ARGS_POST, FILES, MULTIPART_* and XML. Every parser is bounded
(number of arguments, parts, nesting depth) and XML goes through defusedxml, which refuses
external entities and entity declarations (so no billion-laughs expansion).
"""

from __future__ import annotations

import importlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BodyError",
    "MultipartResult",
    "parse_json",
    "parse_multipart",
    "parse_urlencoded",
    "XmlDoc",
    "parse_xml",
    "percent_decode",
    "url_decode",
]

_PCT = re.compile(r"%([0-9A-Fa-f]{2})")


class BodyError(ValueError):
    """The body could not be parsed; the message goes to REQBODY_ERROR_MSG."""


def url_decode(s: str) -> str:
    """ModSecurity's non-strict URL decoding: ``+`` is a space, bad escapes are kept."""
    if "+" in s:
        s = s.replace("+", " ")
    if "%" not in s:
        return s
    return _PCT.sub(lambda m: chr(int(m.group(1), 16)), s)


def percent_decode(s: str) -> str:
    """%XX escapes only (paths): ``+`` stays, bad escapes are kept."""
    if "%" not in s:
        return s
    return _PCT.sub(lambda m: chr(int(m.group(1), 16)), s)


def parse_urlencoded(
    text: str, separator: str = "&", max_args: int = 1000,
) -> tuple[list[tuple[str, str]], bool]:
    """Split ``a=1&b=2``; returns the pairs and whether a bad %-escape was seen."""
    out: list[tuple[str, str]] = []
    bad = False
    if not text:
        return out, bad
    for part in text.split(separator):
        if not part:
            continue
        if len(out) >= max_args:
            raise BodyError(f"too many arguments (limit {max_args})")
        name, eq, value = part.partition("=")
        if "%" in part and re.search(r"%(?![0-9A-Fa-f]{2})", part):
            bad = True
        out.append((url_decode(name), url_decode(value) if eq else ""))
    return out, bad


# -- multipart ------------------------------------------------------------------------------

@dataclass(slots=True)
class MultipartResult:
    args: list[tuple[str, str]] = field(default_factory=list)
    files: list[tuple[str, str]] = field(default_factory=list)  # part name -> filename
    file_sizes: list[tuple[str, str]] = field(default_factory=list)
    part_headers: list[tuple[str, str]] = field(default_factory=list)
    flags: dict[str, bool] = field(default_factory=dict)
    error: str | None = None
    last_name: str | None = None
    last_filename: str | None = None


_BCHARS = frozenset(
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=? ")


def _count_boundary_params(value: str) -> int:
    low = value.lower()
    count = 0
    i = low.find("boundary")
    while i >= 0:
        if "=" in low[i + 8:]:
            count += 1
        i = low.find("boundary", i + 8)
    return count


def _boundary(content_type: str, res: MultipartResult) -> str | None:
    """The boundary parameter, checked the way ModSecurity v2 checks it."""
    if _count_boundary_params(content_type) > 1:
        return None
    idx = content_type.find("boundary")
    if idx < 0:
        return None
    seen_semicolon = False
    for ch in content_type[19:idx]:
        if not ch.isspace():
            if not seen_semicolon and ch == ";":
                seen_semicolon = True
            else:
                return None
    if not seen_semicolon:
        res.flags["MISSING_SEMICOLON"] = True
    eq = content_type.find("=", idx + 8)
    if eq < 0:
        return None
    for ch in content_type[idx + 8:eq]:
        if not ch.isspace():
            return None
        res.flags["BOUNDARY_WHITESPACE"] = True
    b = content_type[eq + 1:]
    if b[:1].isspace():
        res.flags["BOUNDARY_WHITESPACE"] = True
        b = b[1:]
    if len(b) >= 2 and b[0] == '"' and b[-1] == '"':
        res.flags["BOUNDARY_QUOTED"] = True
        b = b[1:-1]
    elif b[:1] == '"' or (len(b) >= 2 and b[-1] == '"'):
        return None
    if _count_boundary_params(b) != 0:
        return None
    if not b or len(b) > 70 or b[-1] == " " or any(c not in _BCHARS for c in b):
        return None
    return b


_CD_PARAM = re.compile(r'\s*([A-Za-z0-9_*-]+)\s*=\s*')


def _disposition(value: str, res: MultipartResult) -> tuple[str | None, str | None]:
    """Parse ``form-data; name="x"; filename="y"`` the way ModSecurity v2 does."""
    v = value.strip()
    if not v.lower().startswith("form-data"):
        res.flags["INVALID_PART"] = True
        return None, None
    rest = v[len("form-data"):]
    name = filename = None
    while rest.strip():
        if not rest.lstrip().startswith(";"):
            res.flags["MISSING_SEMICOLON"] = True
        else:
            rest = rest.lstrip()[1:]
        m = _CD_PARAM.match(rest)
        if m is None:
            res.flags["INVALID_PART"] = True
            break
        pname = m.group(1).lower()
        rest = rest[m.end():]
        if rest.startswith('"'):
            buf: list[str] = []
            i = 1
            closed = False
            while i < len(rest):
                c = rest[i]
                if c == "\\" and i + 1 < len(rest) and rest[i + 1] in '"\\':
                    buf.append(rest[i + 1])
                    i += 2
                    continue
                if c == '"':
                    closed = True
                    i += 1
                    break
                buf.append(c)
                i += 1
            if not closed:
                res.flags["INVALID_QUOTING"] = True
            pval = "".join(buf)
            rest = rest[i:]
        else:
            m2 = re.match(r"[^;\s]*", rest)
            pval = m2.group(0) if m2 else ""
            if "'" in pval or "\\" in pval:
                res.flags["INVALID_QUOTING"] = True
            rest = rest[len(pval):]
        if pname == "name":
            if name is not None:
                res.flags["INVALID_PART"] = True
            name = pval
        elif pname == "filename" or pname == "filename*":
            if filename is not None:
                res.flags["INVALID_PART"] = True
            filename = pval
        else:
            res.flags["INVALID_PART"] = True
    return name, filename


def parse_multipart(
    body: str, content_type: str, max_parts: int = 200, max_args: int = 1000,
    max_files: int = 100,
) -> MultipartResult:
    """Parse ``multipart/form-data`` and set the MULTIPART_* flags ModSecurity v2 sets."""
    res = MultipartResult()
    boundary = _boundary(content_type, res)
    if boundary is None:
        res.error = "Multipart: Invalid boundary in C-T."
        return res
    if not body:
        res.flags["STRICT_ERROR"] = any(res.flags.values())
        return res
    delim = "--" + boundary
    lines = body.split("\n")
    has_crlf = has_lf = False
    state = "preamble"
    part_headers: list[str] = []
    part_value: list[str] = []
    name: str | None = None
    filename: str | None = None
    finished = False
    parts = 0

    def finish_part() -> None:
        nonlocal parts
        value = "\n".join(part_value)
        if name is None:
            res.flags["INVALID_PART"] = True
            res.error = res.error or "Multipart: Part missing Content-Disposition header."
            return
        parts += 1
        for h in part_headers:
            res.part_headers.append((name, h))
        if filename is not None:
            if len(res.files) >= max_files:
                res.flags["FILE_LIMIT_EXCEEDED"] = True
                return
            res.files.append((name, filename))
            res.file_sizes.append((name, str(len(value))))
            res.last_filename = filename
        else:
            if len(res.args) >= max_args:
                res.error = f"Multipart: too many arguments (limit {max_args})"
                return
            res.args.append((name, value))
        res.last_name = name

    for idx, raw in enumerate(lines):
        last_line = idx == len(lines) - 1
        if raw.endswith("\r"):
            line = raw[:-1]
            if not last_line:
                has_crlf = True
        else:
            line = raw
            if not last_line:
                has_lf = True
        if finished:
            if line or not last_line:
                res.flags["DATA_AFTER"] = True
            continue
        if line.startswith(delim) and line[len(delim):].rstrip(" \t") in ("", "--"):
            if state == "value":
                finish_part()
            elif state == "headers":
                res.flags["INVALID_PART"] = True
            if line[len(delim):].rstrip(" \t") == "--":
                finished = True
                state = "done"
                continue
            if parts >= max_parts:
                res.error = f"Multipart: too many parts (limit {max_parts})"
                return res
            state = "headers"
            part_headers = []
            part_value = []
            name = filename = None
            continue
        if state == "preamble":
            if line or not last_line:
                res.flags["DATA_BEFORE"] = True
            continue
        if state == "headers":
            if line == "":
                state = "value"
                continue
            if line[:1] in (" ", "\t"):
                if not part_headers:
                    res.flags["INVALID_HEADER_FOLDING"] = True
                    continue
                res.flags["HEADER_FOLDING"] = True
                part_headers[-1] += line
                if part_headers[-1].lower().startswith("content-disposition"):
                    name, filename = _disposition(part_headers[-1].split(":", 1)[1], res)
                continue
            hname, colon, hval = line.partition(":")
            if not colon or not hname.strip():
                res.flags["INVALID_PART"] = True
                res.error = res.error or "Multipart: Invalid part header (colon missing)."
                continue
            part_headers.append(line)
            if hname.strip().lower() == "content-disposition":
                name, filename = _disposition(hval, res)
            continue
        if state == "value":
            part_value.append(raw if not last_line else line)
    if state == "value":
        # the body ended without a closing boundary
        finish_part()
        res.flags["UNMATCHED_BOUNDARY"] = True
        res.error = res.error or "Multipart: Final boundary missing."
    elif not finished and state != "preamble":
        res.error = res.error or "Multipart: Final boundary missing."
    elif state == "preamble":
        res.error = res.error or "Multipart: No boundaries found in payload."
    # values: strip the CR that belonged to the CRLF before the next boundary
    res.args = [(k, v[:-1] if v.endswith("\r") else v) for k, v in res.args]
    if has_lf:
        res.flags["LF_LINE"] = True
        if has_crlf:
            res.flags["CRLF_LF_LINES"] = True
    if res.error:
        res.flags["PROCESSOR_ERROR"] = True
    strict = ("PROCESSOR_ERROR", "BOUNDARY_QUOTED", "BOUNDARY_WHITESPACE", "DATA_BEFORE",
              "DATA_AFTER", "HEADER_FOLDING", "LF_LINE", "MISSING_SEMICOLON",
              "INVALID_QUOTING", "INVALID_PART", "INVALID_HEADER_FOLDING",
              "FILE_LIMIT_EXCEEDED")
    res.flags["STRICT_ERROR"] = any(res.flags.get(f) for f in strict)
    return res


# -- JSON -----------------------------------------------------------------------------------

def parse_json(text: str, max_depth: int = 64, max_args: int = 1000) -> list[tuple[str, str]]:
    """JSON -> ARGS pairs named as ModSecurity v2 names them (``a.b``, arrays repeat the key)."""
    try:
        doc: Any = json.loads(text.encode("latin-1").decode("utf-8", errors="surrogateescape"))
    except (ValueError, RecursionError) as exc:
        raise BodyError(f"JSON parsing error: {exc}") from exc
    out: list[tuple[str, str]] = []
    _walk_json(doc, None, None, 0, out, max_depth, max_args)
    return out


# Module functions, not closures in parse_json: a recursive closure is a reference cycle
# (function -> cell -> function) holding the argument list, garbage only the cyclic
# collector frees; one per JSON request made young collections run often and slowly.

def _json_scalar(v: Any) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return ""
    if isinstance(v, str):
        if v.isascii():
            return v
        return v.encode("utf-8", errors="surrogateescape").decode("latin-1")
    if type(v) is int or (type(v) is float and math.isfinite(v)):
        return repr(v)   # what json.dumps writes for them, without the encoder
    return json.dumps(v)


def _walk_json(node: Any, prefix: str | None, key: str | None, depth: int,
               out: list[tuple[str, str]], max_depth: int, max_args: int) -> None:
    if depth > max_depth:
        raise BodyError(f"JSON nesting too deep (limit {max_depth})")
    if isinstance(node, dict):
        new_prefix = prefix if key is None else (f"{prefix}.{key}" if prefix else key)
        for k, v in node.items():
            _walk_json(v, new_prefix, _json_scalar(k), depth + 1, out, max_depth, max_args)
    elif isinstance(node, list):
        if key is None and prefix is None:
            new_prefix, new_key = "array", "array"
        else:
            new_prefix = f"{prefix}.{key}" if prefix else (key or "")
            new_key = key or "array"
        name = f"{new_prefix}.{new_key}" if new_prefix else new_key
        for v in node:
            if isinstance(v, (dict, list)) or depth + 1 > max_depth:
                _walk_json(v, new_prefix, new_key, depth + 1, out, max_depth, max_args)
                continue
            # a scalar element, as the call above would add it
            if len(out) >= max_args:
                raise BodyError(f"too many arguments (limit {max_args})")
            out.append((name, _json_scalar(v)))
    else:
        if key is None:
            key = ""  # a top-level scalar: v2 names it with an empty key
        if len(out) >= max_args:
            raise BodyError(f"too many arguments (limit {max_args})")
        out.append((f"{prefix}.{key}" if prefix else key, _json_scalar(node)))


# -- XML ------------------------------------------------------------------------------------

@dataclass(slots=True)
class XmlDoc:
    """What the XML variables expose: the root's text content and every attribute value."""

    text: str
    attributes: list[str]


def _latin(s: str) -> str:
    return s.encode("utf-8", errors="surrogateescape").decode("latin-1")


def parse_xml(text: str, max_depth: int = 64) -> XmlDoc:
    """Parse safely; ``XML:/*`` is the root's text content (libxml2 ``xmlNodeGetContent``)."""
    import xml.etree.ElementTree as ET

    # through importlib so type checking does not depend on the types-defusedxml stubs
    defused: Any = importlib.import_module("defusedxml")
    fromstring = importlib.import_module("defusedxml.ElementTree").fromstring
    refused: type[Exception] = defused.DefusedXmlException

    try:
        root: ET.Element = fromstring(text.encode("latin-1"), forbid_dtd=False,
                                      forbid_entities=True, forbid_external=True)
    except (ET.ParseError, refused, ValueError) as exc:
        raise BodyError(f"XML parsing error: {exc}") from exc

    def depth(el: ET.Element, d: int) -> None:
        if d > max_depth:
            raise BodyError(f"XML nesting too deep (limit {max_depth})")
        for child in el:
            depth(child, d + 1)

    depth(root, 0)
    attrs = [_latin(v) for el in root.iter() for v in el.attrib.values()]
    return XmlDoc(_latin("".join(root.itertext())), attrs)
