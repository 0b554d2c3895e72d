"""jsDecode.

Description (ModSecurity v2): ``\\uHHHH`` keeps the low byte (full-width ``\\uff01``-``\\uff5e``
map to ASCII), ``\\xHH``, octal ``\\OOO`` (at most one byte: a third digit is only used when
the first is 0-3), ``\\a \\b \\f \\n \\r \\t \\v``, and ``\\C`` -> ``C`` for any other char.
A lone trailing backslash is kept.
Example: ``"\\x41\\u0042\\103\\d"`` -> ``"ABCd"``.
"""

from __future__ import annotations

import re

from bastion.waf.seclang.cbytes import x2c
from bastion.waf.seclang.transformations.registry import register

_ESCAPE = re.compile(
    r"\\(?:u([0-9a-fA-F]{4})|x([0-9a-fA-F]{2})|([0-3][0-7]{2}|[0-7]{1,2})|(.))", re.DOTALL
)
SIMPLE_ESCAPES = {"a": "\x07", "b": "\x08", "f": "\x0c", "n": "\n", "r": "\r", "t": "\t",
                  "v": "\x0b"}


def _replace(m: re.Match[str]) -> str:
    hex4, hex2, octal, other = m.groups()
    if hex4 is not None:
        byte = ord(x2c(hex4[2], hex4[3]))
        if 0 < byte < 0x5F and hex4[0] in "fF" and hex4[1] in "fF":
            byte += 0x20
        return chr(byte)
    if hex2 is not None:
        return x2c(hex2[0], hex2[1])
    if octal is not None:
        return chr(int(octal, 8) & 0xFF)
    return SIMPLE_ESCAPES.get(other, other)


def js_decode(value: str) -> str:
    """Decode JavaScript escapes."""
    if "\\" not in value:
        return value
    return _ESCAPE.sub(_replace, value)


register("jsDecode", js_decode)
