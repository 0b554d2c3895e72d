"""Test-only stand-in for ``bastion.waf.seclang.transformations`` (ModSecurity v2 semantics).

The real package is written on another branch; the engine tests use this until it lands.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable

HEX = "0123456789abcdefABCDEF"
_WS = " \t\n\r\f\v\xa0"


def lowercase(s: str) -> str:
    return s.translate(_LOWER) if s else s


_LOWER = {i: i + 32 for i in range(65, 91)}


def _x2c(h: str) -> str:
    return chr(int(h, 16))


def url_decode(s: str) -> str:
    if "%" not in s and "+" not in s:
        return s
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == "%" and i + 2 < n and s[i + 1] in HEX and s[i + 2] in HEX:
            out.append(_x2c(s[i + 1:i + 3]))
            i += 3
        elif c == "+":
            out.append(" ")
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def url_decode_uni(s: str) -> str:
    if "%" not in s and "+" not in s:
        return s
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == "%":
            if i + 1 < n and s[i + 1] in "uU":
                if i + 5 < n and all(ch in HEX for ch in s[i + 2:i + 6]):
                    b = int(s[i + 4:i + 6], 16)
                    if 0 < b < 0x5F and s[i + 2] in "fF" and s[i + 3] in "fF":
                        b += 0x20
                    out.append(chr(b))
                    i += 6
                    continue
                out.append(c)
                i += 1
                continue
            if i + 2 < n and s[i + 1] in HEX and s[i + 2] in HEX:
                out.append(_x2c(s[i + 1:i + 3]))
                i += 3
                continue
            out.append(c)
            i += 1
        elif c == "+":
            out.append(" ")
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


_ENT = {"quot": '"', "amp": "&", "lt": "<", "gt": ">", "nbsp": "\xa0"}


def html_entity_decode(s: str) -> str:
    if "&" not in s:
        return s
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == "&" and i + 1 < n:
            if s[i + 1] == "#" and i + 2 < n:
                if s[i + 2] in "xX":
                    j = i + 3
                    while j < n and s[j] in HEX:
                        j += 1
                    if j > i + 3:
                        out.append(chr(int(s[i + 3:j], 16) & 0xFF))
                        i = j + 1 if j < n and s[j] == ";" else j
                        continue
                else:
                    j = i + 2
                    while j < n and s[j].isdigit() and ord(s[j]) < 128:
                        j += 1
                    if j > i + 2:
                        out.append(chr(int(s[i + 2:j]) & 0xFF))
                        i = j + 1 if j < n and s[j] == ";" else j
                        continue
            else:
                j = i + 1
                while j < n and s[j].isalnum() and ord(s[j]) < 128:
                    j += 1
                name = s[i + 1:j].lower()
                if name in _ENT:
                    out.append(_ENT[name])
                    i = j + 1 if j < n and s[j] == ";" else j
                    continue
        out.append(c)
        i += 1
    return "".join(out)


def js_decode(s: str) -> str:
    if "\\" not in s:
        return s
    out: list[str] = []
    i, n = 0, len(s)
    simple = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
    while i < n:
        c = s[i]
        if c == "\\" and i + 1 < n:
            d = s[i + 1]
            if d == "u" and i + 5 < n and all(ch in HEX for ch in s[i + 2:i + 6]):
                b = int(s[i + 4:i + 6], 16)
                if 0 < b < 0x5F and s[i + 2] in "fF" and s[i + 3] in "fF":
                    b += 0x20
                out.append(chr(b))
                i += 6
            elif d == "x" and i + 3 < n and s[i + 2] in HEX and s[i + 3] in HEX:
                out.append(_x2c(s[i + 2:i + 4]))
                i += 4
            elif d in "01234567":
                j = i + 1
                while j < n and j < i + 4 and s[j] in "01234567":
                    j += 1
                if j - i - 1 == 3 and int(s[i + 1], 8) > 3:
                    j -= 1
                out.append(chr(int(s[i + 1:j], 8)))
                i = j
            elif d in simple:
                out.append(simple[d])
                i += 2
            else:
                out.append(d)
                i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def css_decode(s: str) -> str:
    if "\\" not in s:
        return s
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        if i + 1 >= n:
            i += 1
            continue
        i += 1
        j = 0
        while j < 6 and i + j < n and s[i + j] in HEX:
            j += 1
        if j > 0:
            full = False
            if j == 1:
                b = int(s[i], 16)
            else:
                b = int(s[i + j - 2:i + j], 16)
                lead = s[i:i + j - 4]
                if j == 4 or (j >= 5 and lead.strip("0") == ""):
                    full = True
            if full and 0 < b < 0x5F and s[i + j - 3] in "fF" and s[i + j - 4] in "fF":
                b += 0x20
            out.append(chr(b))
            if i + j < n and s[i + j] in " \t\n\r\f\v":
                j += 1
            i += j
        elif s[i] == "\n":
            i += 1
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def utf8_to_unicode(s: str) -> str:
    if all(ord(c) < 0x80 for c in s):
        return s
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        b = ord(s[i])
        if b < 0x80:
            out.append(s[i])
            i += 1
            continue
        length = 2 if b & 0xE0 == 0xC0 else 3 if b & 0xF0 == 0xE0 else 4 if b & 0xF8 == 0xF0 else 0
        cont = all(ord(s[k]) & 0xC0 == 0x80 for k in range(i + 1, min(i + length, n)))
        if length and i + length <= n and cont:
            try:
                cp = s[i:i + length].encode("latin-1").decode("utf-8")
            except UnicodeDecodeError:
                out.append(s[i])
                i += 1
                continue
            out.append("%u" + format(ord(cp), "04x"))
            i += length
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def remove_nulls(s: str) -> str:
    return s.replace("\x00", "")


def replace_nulls(s: str) -> str:
    return s.replace("\x00", " ")


_WS_RUN = re.compile("[" + re.escape(_WS) + "]+")
_WS_ANY = re.compile("[" + re.escape(_WS) + "]")


def compress_whitespace(s: str) -> str:
    return _WS_RUN.sub(" ", s)


def remove_whitespace(s: str) -> str:
    return _WS_ANY.sub("", s)


def replace_comments(s: str) -> str:
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        if s.startswith("/*", i):
            j = s.find("*/", i + 2)
            out.append(" ")
            if j < 0:
                return "".join(out)
            i = j + 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def cmd_line(s: str) -> str:
    out: list[str] = []
    space = False
    for c in s:
        if c in "\\\"'^":
            continue
        if c in " \t\n\r\f\v,;":
            if not space:
                out.append(" ")
                space = True
            continue
        if c in "/(" and space:
            out.pop()
        space = False
        out.append(c.lower() if "A" <= c <= "Z" else c)
    return "".join(out)


def normalize_path(s: str, win: bool = False) -> str:
    if win:
        s = s.replace("\\", "/")
    if not s:
        return s
    absolute = s.startswith("/")
    trailing = s.endswith("/") or s.endswith("/.") or s.endswith("/..") or s in (".", "..")
    parts: list[str] = []
    for seg in s.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not absolute:
                parts.append("..")
            continue
        parts.append(seg)
    res = ("/" if absolute else "") + "/".join(parts)
    if trailing and parts:
        res += "/"
    return res


def sha1(s: str) -> str:
    return hashlib.sha1(s.encode("latin-1")).digest().decode("latin-1")


def md5(s: str) -> str:
    return hashlib.md5(s.encode("latin-1")).digest().decode("latin-1")


def hex_encode(s: str) -> str:
    return s.encode("latin-1").hex()


def hex_decode(s: str) -> str:
    try:
        return binascii.unhexlify(s[: len(s) // 2 * 2]).decode("latin-1")
    except binascii.Error:
        return s


def base64_decode(s: str) -> str:
    m = re.match(r"[A-Za-z0-9+/]*", s)
    data = m.group(0) if m else ""
    data = data[: len(data) // 4 * 4 + (len(data) % 4 if len(data) % 4 > 1 else 0)]
    data += "=" * (-len(data) % 4)
    try:
        return base64.b64decode(data).decode("latin-1")
    except (binascii.Error, ValueError):
        return ""


def base64_encode(s: str) -> str:
    return base64.b64encode(s.encode("latin-1")).decode("ascii")


def length(s: str) -> str:
    return str(len(s))


_REG: dict[str, Callable[[str], str]] = {
    "lowercase": lowercase,
    "urldecode": url_decode,
    "urldecodeuni": url_decode_uni,
    "htmlentitydecode": html_entity_decode,
    "jsdecode": js_decode,
    "cssdecode": css_decode,
    "utf8tounicode": utf8_to_unicode,
    "removenulls": remove_nulls,
    "replacenulls": replace_nulls,
    "compresswhitespace": compress_whitespace,
    "removewhitespace": remove_whitespace,
    "replacecomments": replace_comments,
    "cmdline": cmd_line,
    "normalisepath": normalize_path,
    "normalizepath": normalize_path,
    "normalisepathwin": lambda s: normalize_path(s, True),
    "normalizepathwin": lambda s: normalize_path(s, True),
    "sha1": sha1,
    "md5": md5,
    "hexencode": hex_encode,
    "hexdecode": hex_decode,
    "base64decode": base64_decode,
    "base64encode": base64_encode,
    "length": length,
    "trim": lambda s: s.strip(_WS),
    "trimleft": lambda s: s.lstrip(_WS),
    "trimright": lambda s: s.rstrip(_WS),
    "uppercase": lambda s: s.upper(),
}


def get(name: str) -> Callable[[str], str]:
    return _REG[name.lower()]
