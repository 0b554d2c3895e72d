"""ModSecurity v2 ``parse_pm_content``: the argument syntax of @pm, @pmFromFile and @strmatch.

Leading whitespace is skipped, one pair of surrounding double quotes is removed, ``|41 42|``
is hex for bytes, and ``\\`` escapes only ``: ; \\ "``. Quirk kept: when nothing was converted
(no complete hex pair, no escape) the text is returned unchanged, ``|`` included.
"""

from __future__ import annotations

from bastion.waf.seclang.cbytes import C_SPACE

__all__ = ["PmContentError", "parse_pm_content"]

_HEX = frozenset("0123456789abcdefABCDEF")


class PmContentError(ValueError):
    """The argument is empty or uses an unsupported escape."""


def parse_pm_content(text: str) -> str:
    """Decode the @pm argument syntax; raises ``PmContentError`` where v2 reports an error."""
    offset = 0
    while offset < len(text) and text[offset] in C_SPACE:
        offset += 1
    if len(text) - offset >= 2 and text[offset] == '"' and text.endswith('"'):
        parm = text[offset + 1 : -1]
    else:
        parm = text[offset:]
    if not parm:
        raise PmContentError("content length is 0")
    out: list[str] = []
    pair: list[str] = []
    binary = escaped = converted = False
    for ch in parm:
        if ch == "|":
            binary = not binary
        elif not escaped and ch == "\\":
            escaped = True
        elif binary:
            if ch in _HEX:
                pair.append(ch)
                if len(pair) == 2:
                    out.append(chr(int("".join(pair), 16)))
                    pair.clear()
                    converted = True
        elif escaped:
            if ch not in ':;\\"':
                raise PmContentError(f"unsupported escape sequence \\{ch}")
            out.append(ch)
            escaped = False
            converted = True
        else:
            out.append(ch)
    return "".join(out) if converted else parm
