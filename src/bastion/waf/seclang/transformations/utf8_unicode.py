"""utf8toUnicode.

Description (ModSecurity v2 ``utf8_unicode_inplace_ex``, quirks kept because CRS 941 chains
depend on them): each valid 2/3/4-byte UTF-8 sequence becomes ``%uHHHH`` (lowercase hex, at
least 4 digits). NUL bytes are dropped. A lead byte whose sequence is truncated or has a bad
continuation byte is dropped and the following bytes are handled on their own. Overlong forms
and surrogates are written as ``%u`` text followed by the lead byte; a 4-byte lead >= 0xF5 is
written before its ``%u`` text. Other bytes >= 0x80 are copied.
Example: ``"caf\\xc3\\xa9"`` -> ``"caf%u00e9"``.
"""

from __future__ import annotations

import re

from bastion.waf.seclang.transformations.registry import register

# A well-formed sequence (lead + the right number of continuation bytes), a lead byte
# without them, or a NUL. Every other byte is copied by re.sub untouched.
_UNITS = re.compile(
    "([\xc0-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf7][\x80-\xbf]{3})"
    "|([\xc0-\xf7])|\x00"
)
_MASKS = {2: 0x1F, 3: 0x0F, 4: 0x07}
_MINIMUM = {2: 0x80, 3: 0x800, 4: 0x10000}


def _sequence(seq: str) -> str:
    lead = seq[0]
    n = len(seq)
    d = ord(lead) & _MASKS[n]
    for ch in seq[1:]:
        d = (d << 6) | (ord(ch) & 0x3F)
    out = lead if ord(lead) >= 0xF5 else ""
    out += f"%u{d:04x}"
    if 0xD800 <= d <= 0xDFFF:
        out += lead
    if d < _MINIMUM[n]:
        out += lead
    return out


def _replace(m: re.Match[str]) -> str:
    seq = m.group(1)
    if seq is not None:
        return _sequence(seq)
    lead = m.group(2)
    if lead is not None and ord(lead) >= 0xF5:
        return lead
    return ""


class _PercentU(dict[int, str]):
    """``str.translate`` table: code point -> ``%uHHHH`` (ASCII -> itself), filled lazily."""

    def __missing__(self, code_point: int) -> str:
        text = chr(code_point) if code_point < 0x80 else f"%u{code_point:04x}"
        if len(self) < 65536:
            self[code_point] = text
        return text


_PERCENT_U = _PercentU({cp: chr(cp) for cp in range(0x80)})


def utf8_to_unicode(value: str) -> str:
    """Turn UTF-8 sequences into ``%uHHHH`` escapes."""
    if value.isascii():
        return value.replace("\x00", "")
    if "\x00" not in value:
        # Fast path: strict UTF-8 (no overlongs, surrogates or > U+10FFFF) has no quirks.
        try:
            text = value.encode("latin-1").decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return text.translate(_PERCENT_U)
    return _UNITS.sub(_replace, value)


register("utf8toUnicode", utf8_to_unicode)
