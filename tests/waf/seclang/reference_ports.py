"""Line-by-line ports of ModSecurity v2 C loops: oracles for the regex-based fast versions.

Each function walks the input with indices exactly as the C code in ``msc_util.c`` /
``re_tfns.c`` does (byte strings as latin-1 ``str``). They are slow and only used in tests.
"""

from __future__ import annotations

HEX = "0123456789abcdefABCDEF"
SPACE = " \t\n\x0b\x0c\r"


def _digit(c: str) -> int:
    o = ord(c)
    return ((o & 0xDF) - 0x41 + 10) if o >= 0x41 else (o - 0x30)


def x2c(s: str, i: int) -> str:
    return chr((_digit(s[i]) * 16 + _digit(s[i + 1])) & 0xFF)


def url_decode(s: str) -> str:
    out, i, n = [], 0, len(s)
    while i < n:
        if s[i] == "%":
            if i + 2 < n and s[i + 1] in HEX and s[i + 2] in HEX:
                out.append(x2c(s, i + 1))
                i += 3
            else:
                out.append(s[i])
                i += 1
        else:
            out.append(" " if s[i] == "+" else s[i])
            i += 1
    return "".join(out)


def url_decode_uni(s: str) -> str:
    """Without a unicode map."""
    out, i, n = [], 0, len(s)
    while i < n:
        if s[i] == "%":
            if i + 1 < n and s[i + 1] in "uU":
                if i + 5 < n and all(s[i + k] in HEX for k in range(2, 6)):
                    c = ord(x2c(s, i + 4))
                    if 0 < c < 0x5F and s[i + 2] in "fF" and s[i + 3] in "fF":
                        c += 0x20
                    out.append(chr(c))
                    i += 6
                else:
                    out.append(s[i] + s[i + 1])
                    i += 2
            elif i + 2 < n and s[i + 1] in HEX and s[i + 2] in HEX:
                out.append(x2c(s, i + 1))
                i += 3
            else:
                out.append(s[i])
                i += 1
        else:
            out.append(" " if s[i] == "+" else s[i])
            i += 1
    return "".join(out)


def _strtol_byte(digits: str, base: int) -> str:
    return chr(min(int(digits, base), 2**63 - 1) & 0xFF)


def html_entity_decode(s: str) -> str:
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        copy = 1
        if s[i] == "&" and i + 1 < n:
            j = i + 1
            if s[j] == "#":
                copy += 1
                if j + 1 < n:
                    j += 1
                    if s[j] in "xX":
                        copy += 1
                        if j + 1 < n:
                            j += 1
                            k = j
                            while j < n and s[j] in HEX:
                                j += 1
                            if j > k:
                                out.append(_strtol_byte(s[k:j], 16))
                                i = j + 1 if j < n and s[j] == ";" else j
                                continue
                    else:
                        k = j
                        while j < n and s[j].isascii() and s[j].isdigit():
                            j += 1
                        if j > k:
                            out.append(_strtol_byte(s[k:j], 10))
                            i = j + 1 if j < n and s[j] == ";" else j
                            continue
            else:
                k = j
                while j < n and s[j].isascii() and s[j].isalnum():
                    j += 1
                if j > k:
                    name = s[k:j].lower()
                    table = {"quot": '"', "amp": "&", "lt": "<", "gt": ">", "nbsp": "\xa0"}
                    if name in table:
                        out.append(table[name])
                        i = j + 1 if j < n and s[j] == ";" else j
                        continue
                    copy = j - k + 1
        for _ in range(copy):
            if i < n:
                out.append(s[i])
                i += 1
    return "".join(out)


_SIMPLE = {"a": "\x07", "b": "\x08", "f": "\x0c", "n": "\n", "r": "\r", "t": "\t", "v": "\x0b"}


def js_decode(s: str) -> str:
    out, i, n = [], 0, len(s)
    while i < n:
        if s[i] == "\\":
            if i + 5 < n and s[i + 1] == "u" and all(s[i + k] in HEX for k in range(2, 6)):
                c = ord(x2c(s, i + 4))
                if 0 < c < 0x5F and s[i + 2] in "fF" and s[i + 3] in "fF":
                    c += 0x20
                out.append(chr(c))
                i += 6
            elif i + 3 < n and s[i + 1] == "x" and s[i + 2] in HEX and s[i + 3] in HEX:
                out.append(x2c(s, i + 2))
                i += 4
            elif i + 1 < n and "0" <= s[i + 1] <= "7":
                j = 0
                buf = ""
                while i + 1 + j < n and j < 3:
                    buf += s[i + 1 + j]
                    j += 1
                    if not (i + 1 + j < n and "0" <= s[i + 1 + j] <= "7"):
                        break
                if j == 3 and buf[0] > "3":
                    j = 2
                    buf = buf[:2]
                out.append(chr(int(buf, 8) & 0xFF))
                i += 1 + j
            elif i + 1 < n:
                out.append(_SIMPLE.get(s[i + 1], s[i + 1]))
                i += 2
            else:
                out.append(s[i:])
                i = n
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def css_decode(s: str) -> str:
    out, i, n = [], 0, len(s)
    while i < n:
        if s[i] == "\\":
            if i + 1 < n:
                i += 1
                j = 0
                while j < 6 and i + j < n and s[i + j] in HEX:
                    j += 1
                if j > 0:
                    fullcheck = False
                    if j == 1:
                        c = _digit(s[i]) & 0xFF
                    else:
                        c = ord(x2c(s, i + j - 2))
                        if j == 4:
                            fullcheck = True
                        elif j == 5:
                            fullcheck = s[i] == "0"
                        elif j == 6:
                            fullcheck = s[i] == "0" and s[i + 1] == "0"
                    if fullcheck and 0 < c < 0x5F and s[i + j - 3] in "fF" and (
                        s[i + j - 4] in "fF"
                    ):
                        c += 0x20
                    out.append(chr(c))
                    if i + j < n and s[i + j] in SPACE:
                        j += 1
                    i += j
                elif s[i] == "\n":
                    i += 1
                else:
                    out.append(s[i])
                    i += 1
            else:
                i += 1
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def escape_seq_decode(s: str) -> str:
    out, i, n = [], 0, len(s)
    simple = {**_SIMPLE, "\\": "\\", "?": "?", "'": "'", '"': '"'}
    while i < n:
        if s[i] == "\\" and i + 1 < n:
            c: str | None = simple.get(s[i + 1])
            if c is not None:
                i += 2
            else:
                if s[i + 1] in "xX":
                    if i + 3 < n and s[i + 2] in HEX and s[i + 3] in HEX:
                        c = x2c(s, i + 2)
                        i += 4
                elif "0" <= s[i + 1] <= "7":
                    j = 0
                    buf = ""
                    while i + 1 + j < n and j < 3:
                        buf += s[i + 1 + j]
                        j += 1
                        if not (i + 1 + j < n and "0" <= s[i + 1 + j] <= "7"):
                            break
                    c = chr(int(buf, 8) & 0xFF)
                    i += 1 + j
            if c is None:
                out.append(s[i + 1])
                i += 2
            else:
                out.append(c)
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def replace_comments(s: str) -> str:
    out, i, n, incomment = [], 0, len(s), False
    while i < n:
        if not incomment:
            if s[i] == "/" and i + 1 < n and s[i + 1] == "*":
                incomment = True
                i += 2
            else:
                out.append(s[i])
                i += 1
        elif s[i] == "*" and i + 1 < n and s[i + 1] == "/":
            incomment = False
            i += 2
            out.append(" ")
        else:
            i += 1
    if incomment:
        out.append(" ")
    return "".join(out)


def remove_comments_char(s: str) -> str:
    out, i, n = [], 0, len(s)
    while i < n:
        if s.startswith("/*", i) or s.startswith("*/", i):
            i += 2
        elif s.startswith("<!--", i):
            i += 4
        elif s.startswith("-->", i):
            i += 3
        elif s.startswith("--", i):
            i += 2
        elif s[i] == "#":
            i += 1
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def cmd_line(s: str) -> str:
    out: list[str] = []
    space = False
    for ch in s:
        if ch == "\x00":
            break
        if ch in "\"'\\^":
            continue
        if ch in " ,;\t\r\n":
            if not space:
                out.append(" ")
                space = True
        elif ch in "/(":
            if space:
                out.pop()
            space = False
            out.append(ch)
        else:
            out.append(ch.lower() if "A" <= ch <= "Z" else ch)
            space = False
    return "".join(out)


def compress_whitespace(s: str) -> str:
    out: list[str] = []
    count = 0
    for ch in s:
        if ch in SPACE or ch == "\xa0":
            count += 1
        else:
            if count:
                out.append(" ")
                count = 0
            out.append(ch)
    if count:
        out.append(" ")
    return "".join(out)


def sql_hex_decode(s: str) -> str:
    out: list[str] = []
    i, n = 0, len(s)
    while i < n and s[i] != "\x00":
        if s[i] != "0" or i + 1 >= n or s[i + 1] not in "xX":
            out.append(s[i])
            i += 1
            continue
        if not (i + 3 < n and s[i + 2] in HEX and s[i + 3] in HEX):
            out.append(s[i])
            i += 1
            continue
        i += 2
        while i + 1 < n and s[i] in HEX and s[i + 1] in HEX:
            out.append(x2c(s, i))
            i += 2
        if i < n and s[i] != "\x00":
            out.append(s[i])
            i += 1
        else:
            break
    return "".join(out)
