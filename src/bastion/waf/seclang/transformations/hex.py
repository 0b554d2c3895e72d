"""hexEncode, hexDecode, sqlHexDecode.

Description (ModSecurity v2):
- hexEncode: each byte -> two lowercase hex digits.
- hexDecode: pairs of characters -> bytes with v2's unchecked ``x2c`` (``"0z"`` -> ``"#"``); an
  odd last character is dropped.
- sqlHexDecode: ``0xHHHH..`` (x or X, at least one hex pair) -> the bytes; the value ends at the
  first NUL (v2 walks a C string) and the character after a decoded run is copied unexamined.
Example: hexEncode ``"A\\x00"`` -> ``"4100"``; sqlHexDecode ``"0x414243 x"`` -> ``"ABC x"``.
"""

from __future__ import annotations

import re

from bastion.waf.seclang.cbytes import is_hex, x2c
from bastion.waf.seclang.transformations.registry import register

_ALL_HEX = re.compile(r"[0-9a-fA-F]*")


def hex_encode(value: str) -> str:
    """Bytes to lowercase hex."""
    return value.encode("latin-1").hex()


def hex_decode(value: str) -> str:
    """Hex pairs to bytes, unchecked like v2."""
    even = value[: len(value) - (len(value) % 2)]
    if _ALL_HEX.fullmatch(even):
        return bytes.fromhex(even).decode("latin-1")
    return "".join(x2c(even[i], even[i + 1]) for i in range(0, len(even), 2))


def sql_hex_decode(value: str) -> str:
    """Decode SQL ``0x`` hex literals (port of v2 ``sql_hex2bytes_inplace``)."""
    nul = value.find("\x00")
    if nul >= 0:
        value = value[:nul]
    if "0x" not in value and "0X" not in value:
        return value
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        if (
            value[i] == "0" and i + 3 < n and value[i + 1] in "xX"
            and is_hex(value[i + 2]) and is_hex(value[i + 3])
        ):
            i += 2
            while i + 1 < n and is_hex(value[i]) and is_hex(value[i + 1]):
                out.append(x2c(value[i], value[i + 1]))
                i += 2
            if i < n:
                out.append(value[i])
            i += 1
            continue
        out.append(value[i])
        i += 1
    return "".join(out)


register("hexEncode", hex_encode)
register("hexDecode", hex_decode)
register("sqlHexDecode", sql_hex_decode)
