"""compressWhitespace, removeWhitespace, trim, trimLeft, trimRight.

Description: whitespace is C ``isspace`` (space, \\t, \\n, \\v, \\f, \\r); compress/remove also
treat NBSP (0xA0) as whitespace, the trims do not (as ModSecurity v2).
Example: compressWhitespace ``"  a \\t b  "`` -> ``" a b "``; trim ``" a "`` -> ``"a"``.
"""

from __future__ import annotations

import re

from bastion.waf.seclang.cbytes import C_SPACE
from bastion.waf.seclang.transformations.registry import register

_RUN = re.compile("[ \t\n\x0b\x0c\r\xa0]+")


def compress_whitespace(value: str) -> str:
    """Every run of whitespace (or NBSP) becomes one space."""
    return _RUN.sub(" ", value)


def remove_whitespace(value: str) -> str:
    """Delete whitespace and NBSP."""
    return _RUN.sub("", value)


def trim(value: str) -> str:
    """Strip C whitespace on both ends."""
    return value.strip(C_SPACE)


def trim_left(value: str) -> str:
    """Strip C whitespace on the left."""
    return value.lstrip(C_SPACE)


def trim_right(value: str) -> str:
    """Strip C whitespace on the right."""
    return value.rstrip(C_SPACE)


register("compressWhitespace", compress_whitespace)
register("removeWhitespace", remove_whitespace)
register("trim", trim)
register("trimLeft", trim_left)
register("trimRight", trim_right)
