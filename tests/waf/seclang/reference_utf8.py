"""A line-by-line port of v2 ``utf8_unicode_inplace_ex``: the oracle for the fast version."""

from __future__ import annotations


def _cont(value: str, i: int) -> bool:
    return (ord(value[i]) & 0xC0) == 0x80


def reference_utf8_to_unicode(value: str) -> str:
    """Turn UTF-8 sequences into ``%uHHHH`` escapes."""
    if value.isascii():
        return value.replace("\x00", "")
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        c = ord(value[i])
        left = n - i
        unicode_len = 0
        d = 0
        if c & 0x80 == 0:
            if c:
                out.append(value[i])
        elif c & 0xE0 == 0xC0:
            if left >= 2 and _cont(value, i + 1):
                unicode_len = 2
                d = ((c & 0x1F) << 6) | (ord(value[i + 1]) & 0x3F)
        elif c & 0xF0 == 0xE0:
            if left >= 3 and _cont(value, i + 1) and _cont(value, i + 2):
                unicode_len = 3
                d = ((c & 0x0F) << 12) | ((ord(value[i + 1]) & 0x3F) << 6)
                d |= ord(value[i + 2]) & 0x3F
        elif c & 0xF8 == 0xF0:
            if c >= 0xF5:
                out.append(value[i])
            if left >= 4 and _cont(value, i + 1) and _cont(value, i + 2) and _cont(value, i + 3):
                unicode_len = 4
                d = ((c & 0x07) << 18) | ((ord(value[i + 1]) & 0x3F) << 12)
                d |= ((ord(value[i + 2]) & 0x3F) << 6) | (ord(value[i + 3]) & 0x3F)
        else:
            out.append(value[i])
        if unicode_len:
            out.append(f"%u{d:04x}")
        if 0xD800 <= d <= 0xDFFF:
            out.append(value[i])
        if (unicode_len == 4 and d < 0x10000) or (unicode_len == 3 and d < 0x800) or (
            unicode_len == 2 and d < 0x80
        ):
            out.append(value[i])
        i += unicode_len if unicode_len else 1
    return "".join(out)

