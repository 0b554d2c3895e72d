"""base64Decode, base64DecodeExt, base64Encode.

Description (ModSecurity v2):
- base64Decode (APR ``apr_base64_decode``): decodes the leading run of base64 alphabet
  characters and stops at the first other character (``=``, NUL, space, ...); a dangling single
  character is ignored.
- base64DecodeExt: skips every non-alphabet character instead of stopping (stops at NUL only);
  a ``=`` right after the first character of a quantum (not followed by ``=``) makes the
  result empty.
- base64Encode: standard base64 with padding.
Example: base64Decode ``"VGVzdA==junk"`` -> ``"Test"``.
"""

from __future__ import annotations

import base64
import binascii
import re

from bastion.waf.seclang.transformations.registry import register

_PREFIX = re.compile(r"[A-Za-z0-9+/]*")
_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def _decode_chars(chars: str) -> str:
    usable = len(chars) - (1 if len(chars) % 4 == 1 else 0)
    chars = chars[:usable]
    if not chars:
        return ""
    padded = chars + "=" * (-len(chars) % 4)
    try:
        return binascii.a2b_base64(padded.encode("ascii")).decode("latin-1")
    except binascii.Error:  # pragma: no cover - the alphabet was checked
        return ""


def base64_decode(value: str) -> str:
    """Decode the leading base64 run."""
    match = _PREFIX.match(value)
    return _decode_chars(match.group(0) if match else "")


def base64_decode_ext(value: str) -> str:
    """Lenient base64 decoding (v2 ``decode_base64_ext``)."""
    chars: list[str] = []
    n = len(value)
    for i, ch in enumerate(value):
        if ch == "\x00":
            break
        if ch == "=":
            following = value[i + 1] if i + 1 < n else "\x00"
            if following != "=" and len(chars) % 4 == 1:
                return ""
            continue
        if ch in _ALPHABET:
            chars.append(ch)
    return _decode_chars("".join(chars))


def base64_encode(value: str) -> str:
    """Standard base64 with padding."""
    return base64.b64encode(value.encode("latin-1")).decode("ascii")


register("base64Decode", base64_decode)
register("base64DecodeExt", base64_decode_ext)
register("base64Encode", base64_encode)
