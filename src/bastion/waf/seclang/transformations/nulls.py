"""removeNulls, replaceNulls.

Description: delete NUL bytes, or replace each with a space.
Example: removeNulls ``"a\\x00b"`` -> ``"ab"``; replaceNulls ``"a\\x00b"`` -> ``"a b"``.
"""

from __future__ import annotations

from bastion.waf.seclang.transformations.registry import register


def remove_nulls(value: str) -> str:
    """Delete every NUL byte."""
    return value.replace("\x00", "")


def replace_nulls(value: str) -> str:
    """Replace every NUL byte with a space."""
    return value.replace("\x00", " ")


register("removeNulls", remove_nulls)
register("replaceNulls", replace_nulls)
