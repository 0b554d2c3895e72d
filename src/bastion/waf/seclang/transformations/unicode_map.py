"""``SecUnicodeMapFile FILE CODEPAGE``: the code point -> byte table urlDecodeUni can use.

ModSecurity v2 reads ``unicode.mapping`` (whitespace-separated tokens; a token whose number is
the wanted code page starts its section, ``hhhh:hh`` tokens are mappings, the first other token
after the mappings ends it) and pre-sets the RFC 3490 full stops (U+3002, U+FF0E, U+FF61 and
U+002E -> ``.``). Build the transformation with
``url.make_url_decode_uni(load_unicode_map(path, 20127))``; Debian's recommended config uses
code page 20127 and the file ``/etc/modsecurity/unicode.mapping``, which we ship in ``data/``
(see its README) and use by default.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "DEFAULT_CODEPAGE",
    "DEFAULT_MAP_FILE",
    "UnicodeMapError",
    "default_unicode_map",
    "load_unicode_map",
    "parse_unicode_map",
]

DEFAULT_MAP_FILE = Path(__file__).resolve().parent.parent / "data" / "unicode.mapping"
DEFAULT_CODEPAGE = 20127

_RFC3490_DOTS = {0x3002: 0x2E, 0xFF61: 0x2E, 0xFF0E: 0x2E, 0x002E: 0x2E}


class UnicodeMapError(ValueError):
    """The map file cannot be read."""


def _leading_int(token: str) -> int:
    digits = ""
    for ch in token:
        if not ch.isdigit():
            break
        digits += ch
    return int(digits) if digits else 0


def parse_unicode_map(text: str, codepage: int) -> dict[int, int]:
    """The table of ``codepage`` in the text of a unicode.mapping file."""
    table = dict(_RFC3490_DOTS)
    found = processing = False
    for token in text.split():
        if _leading_int(token) == codepage:
            found = True
        if found and ":" in token:
            processing = True
            code_text, _, byte_text = token.partition(":")
            try:
                code, byte = int(code_text, 16), int(byte_text, 16)
            except ValueError:
                continue
            if 0 <= code <= 0xFFFF:
                table[code] = byte & 0xFF
        elif processing:
            break
    return table


def load_unicode_map(path: Path, codepage: int) -> dict[int, int]:
    """Read ``path`` and return the table of ``codepage``."""
    try:
        text = path.read_bytes().decode("latin-1")
    except OSError as exc:
        raise UnicodeMapError(f"could not open unicode map file {str(path)!r}: "
                              f"{exc.strerror or exc}") from None
    return parse_unicode_map(text, codepage)


def default_unicode_map() -> dict[int, int]:
    """Debian's recommended setting: ``SecUnicodeMapFile unicode.mapping 20127``.

    That is the configuration of the ModSecurity v2 reference runs, so ``urlDecodeUni`` uses
    it by default (ModSecurity without ``SecUnicodeMapFile`` maps nothing).
    """
    return load_unicode_map(DEFAULT_MAP_FILE, DEFAULT_CODEPAGE)
