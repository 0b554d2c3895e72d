"""WAFv2 TextTransformations: every type in the WAFv2 API model, as ``bytes -> bytes`` functions.

AWS applies a statement's transformations from the lowest ``Priority`` to the highest, then
inspects the result; ``compile_chain`` sorts once at load so evaluation is a plain loop. The
semantics follow the WAF developer guide (which mirrors ModSecurity's transformations of the same
names); where AWS is silent, ModSecurity's behaviour is the tie-breaker.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Sequence

__all__ = [
    "PRE_PARSE_TYPES",
    "TRANSFORMS",
    "Transform",
    "apply_chain",
    "compile_chain",
]

Transform = Callable[[bytes], bytes]

_WS = b" \t\n\r\f\v"
_HEX = b"0123456789abcdefABCDEF"


def _none(b: bytes) -> bytes:
    return b


_COMPRESS = re.compile(rb"[ \t\n\r\f\v\xa0]+")


def _compress_ws(b: bytes) -> bytes:
    return _COMPRESS.sub(b" ", b)


_ENTITY = re.compile(rb"&(?:#[xX]([0-9a-fA-F]+);?|#([0-9]+);?|(quot|amp|lt|gt|nbsp);)")
_NAMED = {b"quot": b'"', b"amp": b"&", b"lt": b"<", b"gt": b">", b"nbsp": b"\xa0"}


def _entity(m: re.Match[bytes]) -> bytes:
    if m.group(1) is not None:
        return bytes([int(m.group(1)[-2:], 16) & 0xFF])
    if m.group(2) is not None:
        return bytes([int(m.group(2)[-6:]) & 0xFF])
    return _NAMED[m.group(3)]


def _html_entity_decode(b: bytes) -> bytes:
    return _ENTITY.sub(_entity, b) if b"&" in b else b


def _lowercase(b: bytes) -> bytes:
    return b.lower()


def _uppercase(b: bytes) -> bytes:
    return b.upper()


_CMD_DELETE = re.compile(rb"[\\\"'^]")
_CMD_SPACE_BEFORE = re.compile(rb"\s+(?=[/(])")
_CMD_SEP = re.compile(rb"[,;]")


def _squeeze_lower(b: bytes) -> bytes:
    """The common tail of the command-line transformations: squeeze spaces, drop the ones
    before ``/`` and ``(``, lower-case."""
    b = _COMPRESS.sub(b" ", b)
    b = _CMD_SPACE_BEFORE.sub(b"", b)
    return b.lower()


def _cmd_line(b: bytes) -> bytes:
    """Delete ``\\ " ' ^``, spaces before ``/`` and ``(``; ``,`` ``;`` to space; squeeze; lower."""
    return _squeeze_lower(_CMD_SEP.sub(b" ", _CMD_DELETE.sub(b"", b)))


_CMD_WIN_DELETE = re.compile(rb"[\"^]")


def _cmd_line_win(b: bytes) -> bytes:
    """Windows cmd.exe evasions: ``^`` escapes and ``"`` splitting; ``,`` ``;`` separate."""
    return _squeeze_lower(_CMD_SEP.sub(b" ", _CMD_WIN_DELETE.sub(b"", b)))


_CMD_UNIX_DELETE = re.compile(rb"[\\\"'`]|\$\{IFS\}|\$IFS")


def _cmd_line_unix(b: bytes) -> bytes:
    """POSIX shell evasions: quotes, backslashes, backticks and ``$IFS`` splitting vanish."""
    return _squeeze_lower(_CMD_UNIX_DELETE.sub(b"", b))


def _url_decode(b: bytes) -> bytes:
    if b"%" not in b and b"+" not in b:
        return b
    out = bytearray()
    i, n = 0, len(b)
    while i < n:
        c = b[i]
        if c == 0x25 and i + 2 < n and b[i + 1] in _HEX and b[i + 2] in _HEX:
            out.append(int(b[i + 1 : i + 3], 16))
            i += 3
            continue
        out.append(0x20 if c == 0x2B else c)
        i += 1
    return bytes(out)


def _uni_byte(code: int) -> bytes:
    """ModSecurity's %u mapping: full-width ASCII folds to ASCII, otherwise the low byte."""
    if 0xFF01 <= code <= 0xFF5E:
        return bytes([code - 0xFEE0])
    return bytes([code & 0xFF])


def _url_decode_uni(b: bytes) -> bytes:
    if b"%" not in b and b"+" not in b:
        return b
    out = bytearray()
    i, n = 0, len(b)
    while i < n:
        c = b[i]
        if c == 0x25:
            if (
                i + 5 < n
                and b[i + 1] in b"uU"
                and all(x in _HEX for x in b[i + 2 : i + 6])
            ):
                out += _uni_byte(int(b[i + 2 : i + 6], 16))
                i += 6
                continue
            if i + 2 < n and b[i + 1] in _HEX and b[i + 2] in _HEX:
                out.append(int(b[i + 1 : i + 3], 16))
                i += 3
                continue
        out.append(0x20 if c == 0x2B else c)
        i += 1
    return bytes(out)


_B64_STRICT = re.compile(rb"[A-Za-z0-9+/]*={0,2}")
_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")


def _b64(data: bytes) -> bytes:
    data = data[: len(data) - len(data) % 4] if len(data) % 4 == 1 else data
    pad = (-len(data)) % 4
    try:
        return base64.b64decode(data + b"=" * pad, validate=False)
    except (binascii.Error, ValueError):
        return b""


def _base64_decode(b: bytes) -> bytes:
    """Decode the leading run of valid base64 (ModSecurity stops at the first invalid byte)."""
    m = _B64_STRICT.match(b.strip())
    return _b64(m.group(0).rstrip(b"=")) if m else b""


def _base64_decode_ext(b: bytes) -> bytes:
    """The forgiving variant: characters outside the alphabet are skipped, not fatal."""
    return _b64(_B64_JUNK.sub(b"", b))


def _hex_decode(b: bytes) -> bytes:
    out = bytearray()
    for i in range(0, len(b) - 1, 2):
        pair = b[i : i + 2]
        if pair[0] in _HEX and pair[1] in _HEX:
            out.append(int(pair, 16))
        else:
            return b
    return bytes(out)


def _md5(b: bytes) -> bytes:
    return hashlib.md5(b, usedforsecurity=False).digest()


def _sha256(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


_COMMENT = re.compile(rb"/\*.*?(?:\*/|\Z)", re.S)


def _replace_comments(b: bytes) -> bytes:
    """C-style comments (terminated or running to the end) become one space."""
    return _COMMENT.sub(b" ", b) if b"/*" in b else b


_COMMENT_CHARS = re.compile(rb"/\*|\*/|--|#")


def _remove_comments_char(b: bytes) -> bytes:
    return _COMMENT_CHARS.sub(b"", b)


_C_ESC = {
    ord("a"): 7, ord("b"): 8, ord("f"): 12, ord("n"): 10, ord("r"): 13, ord("t"): 9,
    ord("v"): 11, ord("\\"): 92, ord("?"): 63, ord("'"): 39, ord('"'): 34,
}


def _escape_seq_decode(b: bytes) -> bytes:
    """ANSI C escapes: ``\\n`` ``\\t`` ... ``\\xHH`` and octal ``\\OOO``."""
    if b"\\" not in b:
        return b
    out = bytearray()
    i, n = 0, len(b)
    while i < n:
        c = b[i]
        if c != 0x5C or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        d = b[i + 1]
        if d in _C_ESC:
            out.append(_C_ESC[d])
            i += 2
        elif d in b"xX" and i + 3 < n and b[i + 2] in _HEX and b[i + 3] in _HEX:
            out.append(int(b[i + 2 : i + 4], 16))
            i += 4
        elif 0x30 <= d <= 0x37:
            j = i + 1
            while j < n and j < i + 4 and 0x30 <= b[j] <= 0x37:
                j += 1
            out.append(int(b[i + 1 : j], 8) & 0xFF)
            i = j
        else:
            out.append(d)
            i += 2
    return bytes(out)


_SQL_HEX = re.compile(rb"0x((?:[0-9a-fA-F]{2})+)")


def _sql_hex_decode(b: bytes) -> bytes:
    return _SQL_HEX.sub(lambda m: bytes.fromhex(m.group(1).decode()), b) if b"0x" in b else b


_CSS_ESC = re.compile(rb"\\(?:([0-9a-fA-F]{1,6})[ \t\n\r\f]?|(\r\n|\n|\r|\f)|(.))", re.S)


def _css_sub(m: re.Match[bytes]) -> bytes:
    if m.group(1) is not None:
        return _uni_byte(int(m.group(1), 16))
    if m.group(2) is not None:
        return b""
    return m.group(3)


def _css_decode(b: bytes) -> bytes:
    return _CSS_ESC.sub(_css_sub, b) if b"\\" in b else b


_JS_ESC = re.compile(
    rb"\\(?:u([0-9a-fA-F]{4})|x([0-9a-fA-F]{2})|([0-7]{1,3})|(.))", re.S
)
_JS_SIMPLE = {ord("a"): 7, ord("b"): 8, ord("f"): 12, ord("n"): 10, ord("r"): 13, ord("t"): 9,
              ord("v"): 11}


def _js_sub(m: re.Match[bytes]) -> bytes:
    if m.group(1) is not None:
        return _uni_byte(int(m.group(1), 16))
    if m.group(2) is not None:
        return bytes([int(m.group(2), 16)])
    if m.group(3) is not None:
        return bytes([int(m.group(3), 8) & 0xFF])
    c = m.group(4)[0]
    return bytes([_JS_SIMPLE.get(c, c)])


def _js_decode(b: bytes) -> bytes:
    return _JS_ESC.sub(_js_sub, b) if b"\\" in b else b


_JS_ES6 = re.compile(rb"\\u\{([0-9a-fA-F]{1,6})\}")


def _js_decode_ext(b: bytes) -> bytes:
    """JS_DECODE plus ES6 code-point escapes ``\\u{...}``, emitted as UTF-8."""
    if b"\\" not in b:
        return b

    def es6(m: re.Match[bytes]) -> bytes:
        cp = int(m.group(1), 16)
        return chr(cp).encode("utf-8", "surrogatepass") if cp <= 0x10FFFF else b""

    return _js_decode(_JS_ES6.sub(es6, b))


def _normalize_path(b: bytes) -> bytes:
    """Collapse ``//``, drop ``/./`` and resolve ``/../`` without climbing above the start."""
    if not b:
        return b
    absolute = b.startswith(b"/")
    trailing = b.endswith(b"/") or b.endswith(b"/.") or b.endswith(b"/..")
    parts: list[bytes] = []
    for seg in b.split(b"/"):
        if seg in (b"", b"."):
            continue
        if seg == b"..":
            if parts:
                parts.pop()
            continue
        parts.append(seg)
    out = b"/".join(parts)
    if absolute:
        out = b"/" + out
    if trailing and parts:
        out += b"/"
    return out or (b"/" if absolute else b"")


def _normalize_path_win(b: bytes) -> bytes:
    return _normalize_path(b.replace(b"\\", b"/"))


def _remove_nulls(b: bytes) -> bytes:
    return b.replace(b"\x00", b"")


def _replace_nulls(b: bytes) -> bytes:
    return b.replace(b"\x00", b" ")


def _utf8_to_unicode(b: bytes) -> bytes:
    """Multi-byte UTF-8 sequences become ``%uHHHH`` (ASCII and invalid bytes pass through)."""
    if all(c < 0x80 for c in b):
        return b
    text = b.decode("utf-8", "surrogateescape")
    out = bytearray()
    for ch in text:
        cp = ord(ch)
        if cp < 0x80:
            out.append(cp)
        elif 0xDC80 <= cp <= 0xDCFF:  # an undecodable byte, kept as is
            out.append(cp - 0xDC00)
        else:
            out += b"%%u%04x" % (cp & 0xFFFF)
    return bytes(out)


_ALL_WS = re.compile(rb"[ \t\n\r\f\v\xa0]+")


def _remove_whitespace(b: bytes) -> bytes:
    return _ALL_WS.sub(b"", b)


def _trim(b: bytes) -> bytes:
    return b.strip(_WS)


def _trim_left(b: bytes) -> bytes:
    return b.lstrip(_WS)


def _trim_right(b: bytes) -> bytes:
    return b.rstrip(_WS)


TRANSFORMS: dict[str, Transform] = {
    "NONE": _none,
    "COMPRESS_WHITE_SPACE": _compress_ws,
    "HTML_ENTITY_DECODE": _html_entity_decode,
    "LOWERCASE": _lowercase,
    "CMD_LINE": _cmd_line,
    "URL_DECODE": _url_decode,
    "BASE64_DECODE": _base64_decode,
    "HEX_DECODE": _hex_decode,
    "MD5": _md5,
    "REPLACE_COMMENTS": _replace_comments,
    "ESCAPE_SEQ_DECODE": _escape_seq_decode,
    "SQL_HEX_DECODE": _sql_hex_decode,
    "CSS_DECODE": _css_decode,
    "JS_DECODE": _js_decode,
    "NORMALIZE_PATH": _normalize_path,
    "NORMALIZE_PATH_WIN": _normalize_path_win,
    "REMOVE_NULLS": _remove_nulls,
    "REPLACE_NULLS": _replace_nulls,
    "BASE64_DECODE_EXT": _base64_decode_ext,
    "URL_DECODE_UNI": _url_decode_uni,
    "UTF8_TO_UNICODE": _utf8_to_unicode,
    "REMOVE_WHITESPACE": _remove_whitespace,
    "TRIM": _trim,
    "TRIM_LEFT": _trim_left,
    "TRIM_RIGHT": _trim_right,
    "REMOVE_COMMENTS_CHAR": _remove_comments_char,
    "UPPERCASE": _uppercase,
    "CMD_LINE_WIN": _cmd_line_win,
    "CMD_LINE_UNIX": _cmd_line_unix,
    "JS_DECODE_EXT": _js_decode_ext,
    "SHA256": _sha256,
}

# PreParseTextTransformations act on the raw query string before it is split into arguments;
# the two "combine"/"replace" ones are applied by the query parser (see request.py).
PRE_PARSE_TYPES = frozenset(
    {"NONE", "URL_DECODE", "URL_DECODE_UNI", "COMBINE_DUPLICATE_QUERY_ARGS_BY_COMMA",
     "REPLACE_SEMICOLONS_WITH_AMPERSANDS"}
)


def compile_chain(types_by_priority: Sequence[tuple[int, str]]) -> tuple[str, ...]:
    """Sort ``(Priority, Type)`` pairs once and drop ``NONE``; the result is a cache key too."""
    return tuple(t for _, t in sorted(types_by_priority) if t != "NONE")


def apply_chain(chain: tuple[str, ...], value: bytes) -> bytes:
    for name in chain:
        value = TRANSFORMS[name](value)
    return value
