"""Byte helpers with C-locale semantics, shared by transformations and operators.

ModSecurity v2 is C: ``isspace``/``tolower``/``atoi`` run in the C locale and hex digits are
converted without validation. Reproducing those exactly is what makes the unit vectors pass,
so the quirks live here once, with the reason next to each.
"""

from __future__ import annotations

__all__ = ["C_SPACE", "atoi", "is_hex", "x2c", "xsingle2c", "to_bytes", "from_bytes"]

# C isspace() in the C locale: space, \t, \n, \v, \f, \r (not NBSP 0xA0).
C_SPACE = " \t\n\x0b\x0c\r"
_HEX = frozenset("0123456789abcdefABCDEF")

_INT_MIN64 = -(2**63)
_INT_MAX64 = 2**63 - 1


def is_hex(c: str) -> bool:
    """VALID_HEX of ModSecurity: an ASCII hex digit."""
    return c in _HEX


def _digit(c: int) -> int:
    # ModSecurity's x2c: letters via `& 0xdf`, no validation; unsigned char arithmetic.
    return ((c & 0xDF) - 0x41 + 10) if c >= 0x41 else (c - 0x30)


def x2c(a: str, b: str) -> str:
    """Two hex characters to one byte exactly as ModSecurity's unchecked ``x2c`` does."""
    return chr((_digit(ord(a)) * 16 + _digit(ord(b))) & 0xFF)


def xsingle2c(a: str) -> str:
    """One hex character to a byte (ModSecurity ``xsingle2c``)."""
    return chr(_digit(ord(a)) & 0xFF)


def atoi(text: str) -> int:
    """C ``atoi`` as glibc implements it: ``(int) strtol(text, NULL, 10)``.

    Leading C whitespace, an optional sign, then digits; anything else ends the number
    ("xxx" is 0). strtol saturates at the 64-bit limits and the cast keeps the low 32 bits.
    """
    if len(text) < 10 and text.isascii() and text.isdigit():
        return int(text)  # the common case: a small plain number
    i, n = 0, len(text)
    while i < n and text[i] in C_SPACE:
        i += 1
    neg = False
    if i < n and text[i] in "+-":
        neg = text[i] == "-"
        i += 1
    start = i
    while i < n and "0" <= text[i] <= "9":
        i += 1
    if i == start:
        return 0
    value = int(text[start:i])
    if neg:
        value = -value
    value = max(_INT_MIN64, min(_INT_MAX64, value))
    value &= 0xFFFFFFFF
    return value - 0x100000000 if value & 0x80000000 else value


def to_bytes(value: str) -> bytes:
    """The bytes a value stands for (each character is one byte)."""
    return value.encode("latin-1")


def from_bytes(data: bytes) -> str:
    """The value form of raw bytes."""
    return data.decode("latin-1")
