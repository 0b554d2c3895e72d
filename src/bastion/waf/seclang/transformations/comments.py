"""replaceComments, removeComments, removeCommentsChar.

Description (ModSecurity v2):
- replaceComments: each C comment ``/* ... */`` (or an unterminated ``/* ...`` to the end)
  becomes one space.
- removeComments: deletes ``/* */`` and ``<!-- -->`` comments and cuts the value at ``--`` or
  ``#``. v2 copies the byte right after a comment end without looking at it (if the comment ends
  the value, that byte is the C string's NUL terminator, which we reproduce).
- removeCommentsChar: deletes the comment markers ``/*``, ``*/``, ``<!--``, ``-->``, ``--``, ``#``.
Example: replaceComments ``"a/* x */b"`` -> ``"a b"``; removeCommentsChar ``"a--b#"`` -> ``"ab"``.
"""

from __future__ import annotations

import re

from bastion.waf.seclang.transformations.registry import register

_C_COMMENT = re.compile(r"/\*.*?(?:\*/|\Z)", re.DOTALL)
_MARKERS = re.compile(r"/\*|\*/|<!--|-->|--|#")
_OPENERS = re.compile(r"/\*|<!--|--|#")


def replace_comments(value: str) -> str:
    """Replace each C comment with one space."""
    if "/*" not in value:
        return value
    return _C_COMMENT.sub(" ", value)


def remove_comments_char(value: str) -> str:
    """Delete the comment marker sequences themselves."""
    return _MARKERS.sub("", value)


def remove_comments(value: str) -> str:
    """Port of v2 ``msre_fn_removeComments_execute`` (see module docstring)."""
    if _OPENERS.search(value) is None:
        return value
    out: list[str] = []
    i, n = 0, len(value)
    incomment = False
    while i < n:
        if not incomment:
            if value.startswith("/*", i):
                incomment = True
                i += 2
            elif value.startswith("<!--", i):
                incomment = True
                i += 4
            elif value.startswith("--", i) or value[i] == "#":
                break
            else:
                out.append(value[i])
                i += 1
        else:
            close = 2 if value.startswith("*/", i) else 3 if value.startswith("-->", i) else 0
            if close:
                incomment = False
                i += close
                out.append(value[i] if i < n else "\x00")
                i += 1
            else:
                i += 1
    if incomment:
        out.append(" ")
    return "".join(out)


register("replaceComments", replace_comments)
register("removeComments", remove_comments)
register("removeCommentsChar", remove_comments_char)
