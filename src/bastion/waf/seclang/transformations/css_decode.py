"""cssDecode.

Description (ModSecurity v2, which differs from current Coraza): ``\\`` + 1-6 hex digits keeps
the low byte only (one digit: that nibble); 4 digits, or 5-6 digits with leading zeros, get the
full-width check (``ff01``-``ff5e`` -> ASCII). One whitespace after a hex escape is eaten,
``\\`` + newline is removed, ``\\`` + other char gives that char, a trailing ``\\`` is dropped.
Example: ``"\\41 \\ff01\\123456x\\\\"`` -> ``"A!Vx\\\\"`` (note: the last pair is ``\\\\``).
"""

from __future__ import annotations

import re

from bastion.waf.seclang.cbytes import x2c, xsingle2c
from bastion.waf.seclang.transformations.registry import register

_ESCAPE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})[ \t\n\x0b\x0c\r]?|(.)|\Z)", re.DOTALL)


def _hex(digits: str) -> str:
    j = len(digits)
    if j == 1:
        return xsingle2c(digits)
    byte = ord(x2c(digits[-2], digits[-1]))
    fullcheck = j == 4 or (j == 5 and digits[0] == "0") or (j == 6 and digits[:2] == "00")
    if (fullcheck and 0 < byte < 0x5F and digits[j - 3] in "fF" and digits[j - 4] in "fF"):
        byte += 0x20
    return chr(byte)


def _replace(m: re.Match[str]) -> str:
    digits, other = m.group(1), m.group(2)
    if digits is not None:
        return _hex(digits)
    if other is None or other == "\n":
        return ""
    return other


def css_decode(value: str) -> str:
    """Decode CSS escapes the ModSecurity v2 way."""
    if "\\" not in value:
        return value
    return _ESCAPE.sub(_replace, value)


register("cssDecode", css_decode)
