"""htmlEntityDecode.

Description (ModSecurity v2): ``&#xHH..;`` and ``&#DD..;`` (the ``;`` is optional, any number
of digits, the byte kept is the low byte of C ``strtol``'s result), plus the named entities
``quot amp lt gt nbsp`` (case-insensitive, ``;`` optional). Other ``&name`` text is kept.
Example: ``"&lt;&#x41&#66;&nbsp;&foo;"`` -> ``"<AB\\xa0&foo;"``.
"""

from __future__ import annotations

import re

from bastion.waf.seclang.transformations.registry import register

_ENTITY = re.compile(r"&(?:#[xX]([0-9a-fA-F]+)|#([0-9]+)|([A-Za-z0-9]+));?")
_NAMED = {"quot": '"', "amp": "&", "lt": "<", "gt": ">", "nbsp": "\xa0"}
_LONG_MAX = 2**63 - 1


def _strtol_byte(digits: str, base: int) -> str:
    # strtol saturates at LONG_MAX on overflow; the cast to unsigned char keeps the low byte.
    return chr(min(int(digits, base), _LONG_MAX) & 0xFF)


def _replace(m: re.Match[str]) -> str:
    hex_digits, dec_digits, name = m.group(1), m.group(2), m.group(3)
    if hex_digits is not None:
        return _strtol_byte(hex_digits, 16)
    if dec_digits is not None:
        return _strtol_byte(dec_digits, 10)
    char = _NAMED.get(name.lower())
    return m.group(0) if char is None else char


def html_entity_decode(value: str) -> str:
    """Decode the HTML entities ModSecurity v2 knows."""
    if "&" not in value:
        return value
    return _ENTITY.sub(_replace, value)


register("htmlEntityDecode", html_entity_decode)
