"""@validateByteRange, @validateUrlEncoding, @validateUtf8Encoding.

Description (ModSecurity v2): these MATCH when the value is invalid.
- validateByteRange ``10,13,32-126``: matches when some byte is outside the listed values and
  ranges (values via ``atoi``, so ``xxx`` means 0); an empty list allows nothing.
- validateUrlEncoding: matches on a ``%`` without two hex digits after it.
- validateUtf8Encoding: matches on bytes that are not UTF-8: truncated sequences, bad
  continuation bytes, overlong forms, surrogates, leads >= 0xF5 (v2 accepts F4 90+).
Example: ``@validateByteRange 32-126`` matches ``"a\\x00"``.
"""

from __future__ import annotations

import re

from bastion.waf.seclang.cbytes import atoi
from bastion.waf.seclang.operators.base import OperatorError, OperatorOptions, OperatorTx
from bastion.waf.seclang.operators.registry import register

__all__ = ["ByteRangeOperator", "parse_byte_ranges"]


def parse_byte_ranges(argument: str) -> frozenset[int]:
    """The allowed bytes of a validateByteRange argument; ``OperatorError`` if out of range."""
    allowed: set[int] = set()
    for token in (t for t in argument.split(",") if t):
        if "-" in token:
            low_text, high_text = token.split("-", 1)
            low, high = atoi(low_text), atoi(high_text)
            if not (0 <= low <= 255 and 0 <= high <= 255) or low > high:
                raise OperatorError(f"@validateByteRange: invalid range {token!r}")
            allowed.update(range(low, high + 1))
        else:
            x = atoi(token)
            if not 0 <= x <= 255:
                raise OperatorError(f"@validateByteRange: invalid range value {x}")
            allowed.add(x)
    return frozenset(allowed)


class ByteRangeOperator:
    """Matches when a byte is outside the allowed set."""

    __slots__ = ("_outside",)

    def __init__(self, allowed: frozenset[int]) -> None:
        outside = "".join(re.escape(chr(b)) for b in range(256) if b not in allowed)
        self._outside = re.compile(f"[{outside}]") if outside else None

    def evaluate(self, tx: OperatorTx, value: str) -> bool:
        """True when some byte is not allowed."""
        return self._outside is not None and self._outside.search(value) is not None


def validate_byte_range(argument: str, options: OperatorOptions) -> ByteRangeOperator:
    """Factory of @validateByteRange."""
    return ByteRangeOperator(parse_byte_ranges(argument))


_BAD_URL_ESCAPE = re.compile(r"%(?![0-9a-fA-F]{2})")


class UrlEncodingOperator:
    """Matches on an invalid ``%`` escape."""

    __slots__ = ()

    def evaluate(self, tx: OperatorTx, value: str) -> bool:
        """True when a ``%`` is not followed by two hex digits."""
        return "%" in value and _BAD_URL_ESCAPE.search(value) is not None


def validate_url_encoding(argument: str, options: OperatorOptions) -> UrlEncodingOperator:
    """Factory of @validateUrlEncoding (the argument is ignored)."""
    return UrlEncodingOperator()


_VALID_UTF8 = re.compile(
    "(?:[\x00-\x7f]|[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]"
    "|[\xe1-\xec\xee\xef][\x80-\xbf]{2}|\xed[\x80-\x9f][\x80-\xbf]"
    "|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf4][\x80-\xbf]{3})*"
)


class Utf8EncodingOperator:
    """Matches when the value is not UTF-8 as ModSecurity v2 checks it."""

    __slots__ = ()

    def evaluate(self, tx: OperatorTx, value: str) -> bool:
        """True when the bytes are not valid UTF-8."""
        if value.isascii():
            return False
        return _VALID_UTF8.fullmatch(value) is None


def validate_utf8_encoding(argument: str, options: OperatorOptions) -> Utf8EncodingOperator:
    """Factory of @validateUtf8Encoding (the argument is ignored)."""
    return Utf8EncodingOperator()


register("validateByteRange", validate_byte_range)
register("validateUrlEncoding", validate_url_encoding)
register("validateUtf8Encoding", validate_utf8_encoding)
