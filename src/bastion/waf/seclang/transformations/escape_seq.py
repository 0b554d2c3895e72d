"""escapeSeqDecode.

Description (ModSecurity v2 ``ansi_c_sequences_decode``): ANSI C escapes ``\\a \\b \\f \\n \\r
\\t \\v \\\\ \\? \\' \\"``, ``\\xHH`` (or ``\\XHH``), octal ``\\O``-``\\OOO`` (low byte); for any
other ``\\C`` the backslash is dropped. A lone trailing backslash is kept.
Example: ``"\\x41\\101\\q"`` -> ``"AAq"``.
"""

from __future__ import annotations

import re

from bastion.waf.seclang.cbytes import x2c
from bastion.waf.seclang.transformations.js_decode import SIMPLE_ESCAPES
from bastion.waf.seclang.transformations.registry import register

_ESCAPE = re.compile(
    r"""\\(?:([abfnrtv\\?'"])|[xX]([0-9a-fA-F]{2})|([0-7]{1,3})|(.))""", re.DOTALL
)


def _replace(m: re.Match[str]) -> str:
    simple, hex2, octal, other = m.groups()
    if simple is not None:
        return SIMPLE_ESCAPES.get(simple, simple)
    if hex2 is not None:
        return x2c(hex2[0], hex2[1])
    if octal is not None:
        return chr(int(octal, 8) & 0xFF)
    return str(other)


def escape_seq_decode(value: str) -> str:
    """Decode ANSI C escape sequences."""
    if "\\" not in value:
        return value
    return _ESCAPE.sub(_replace, value)


register("escapeSeqDecode", escape_seq_decode)
