"""urlDecode, urlDecodeUni, urlEncode.

Description (ModSecurity v2, non-strict):
- urlDecode: ``%HH`` with two hex digits becomes the byte, ``+`` becomes a space, every
  invalid or truncated escape is kept as is.
- urlDecodeUni: the same plus IIS ``%uHHHH``: the low byte is used, and full-width ASCII
  (``%uff01``-``%uff5e``) gets 0x20 added so it maps to ASCII. A Unicode map
  (``SecUnicodeMapFile``) replaces that byte for mapped code points; the registered
  urlDecodeUni uses Debian's recommended map (code page 20127, e.g. ``%u00c0`` -> ``A``), see
  ``unicode_map``; ``make_url_decode_uni`` builds one with another map or none.
  A bad ``%u`` is kept (both characters) and decoding continues after it.
- urlEncode: keeps ``*``, digits and ASCII letters, ``' '`` -> ``+``, others -> ``%hh``
  (lowercase hex).
Example: urlDecodeUni ``"%u0041%2b+"`` -> ``"A+ "``; urlEncode ``"a b/"`` -> ``"a+b%2f"``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import unquote_to_bytes

from bastion.waf.seclang.cbytes import x2c
from bastion.waf.seclang.transformations.registry import Transformation, register
from bastion.waf.seclang.transformations.unicode_map import default_unicode_map

_UNI = re.compile(r"%([uU])([0-9a-fA-F]{4})|%([0-9a-fA-F]{2})|\+")
_KEEP = frozenset(b"*0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_ENCODE = {b: (chr(b) if b in _KEEP else "+" if b == 0x20 else f"%{b:02x}") for b in range(256)}
_ENCODE_TABLE = str.maketrans({chr(b): s for b, s in _ENCODE.items()})


def url_decode(value: str) -> str:
    """Non-strict URL decoding (invalid escapes kept, ``+`` is a space)."""
    if "%" not in value and "+" not in value:
        return value
    raw = value.encode("latin-1").replace(b"+", b" ")
    return unquote_to_bytes(raw).decode("latin-1")


def make_url_decode_uni(unicode_map: Mapping[int, int] | None = None) -> Transformation:
    """A urlDecodeUni that maps ``%uHHHH`` code points through ``unicode_map`` first.

    ``unicode_map`` is what ModSecurity loads from ``SecUnicodeMapFile FILE CODEPAGE``
    (code point -> byte); code points it lacks fall back to the low-byte rule.
    """
    table = dict(unicode_map or {})

    def replace(m: re.Match[str]) -> str:
        hex4 = m.group(2)
        if hex4 is not None:
            mapped = table.get(int(hex4, 16)) if table else None
            if mapped is not None:
                return chr(mapped & 0xFF)
            byte = ord(x2c(hex4[2], hex4[3]))
            if 0 < byte < 0x5F and hex4[0] in "fF" and hex4[1] in "fF":
                byte += 0x20
            return chr(byte)
        hex2 = m.group(3)
        if hex2 is not None:
            return x2c(hex2[0], hex2[1])
        return " "

    def url_decode_uni(value: str) -> str:
        if "%" not in value and "+" not in value:
            return value
        return _UNI.sub(replace, value)

    return url_decode_uni


url_decode_uni = make_url_decode_uni(default_unicode_map())


def url_encode(value: str) -> str:
    """v2 ``url_encode``."""
    return value.translate(_ENCODE_TABLE)


register("urlDecode", url_decode)
register("urlDecodeUni", url_decode_uni)
register("urlEncode", url_encode)
