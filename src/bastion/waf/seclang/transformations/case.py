"""lowercase, uppercase.

Description: change the case of ASCII letters only, like C ``tolower``/``toupper`` in the C
locale; bytes >= 0x80 are left alone (Python's ``str.lower`` would fold latin-1 letters).
Example: ``"TestCase\\xc9"`` -> ``"testcase\\xc9"``.
"""

from __future__ import annotations

from bastion.waf.seclang.transformations.registry import register


def lowercase(value: str) -> str:
    """ASCII-only lowercase (``bytes.lower`` is ASCII-only)."""
    if value.isascii():
        return value.lower()
    return value.encode("latin-1").lower().decode("latin-1")


def uppercase(value: str) -> str:
    """ASCII-only uppercase."""
    if value.isascii():
        return value.upper()
    return value.encode("latin-1").upper().decode("latin-1")


register("lowercase", lowercase)
register("uppercase", uppercase)
