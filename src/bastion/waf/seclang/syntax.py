"""The small languages inside a SecRule: variable lists, operators and action lists.

These follow ModSecurity v2's ``msre_parse_targets``/``msre_parse_generic``: items are
separated by ``|`` (variables) or ``,`` (actions), a value may be quoted with ``'...'`` in which
``\\'`` and ``\\\\`` are escapes, and unquoted values end at the separator.
"""

from __future__ import annotations

import re

from bastion.waf.seclang.rules import Action, Target

__all__ = ["parse_actions", "parse_operator", "parse_targets"]


class SyntaxProblem(ValueError):
    """A malformed piece of rule text; the parser adds the file and line."""


def _split_items(text: str, separators: str) -> list[tuple[str, str | None]]:
    """Split ``name[:value]`` items; values may be single-quoted."""
    items: list[tuple[str, str | None]] = []
    i, n = 0, len(text)
    while True:
        while i < n and (text[i].isspace() or text[i] in separators):
            i += 1
        if i >= n:
            return items
        start = i
        while i < n and text[i] != ":" and text[i] not in separators and not text[i].isspace():
            i += 1
        name = text[start:i]
        while i < n and text[i].isspace():
            i += 1
        if i >= n or text[i] in separators:
            items.append((name, None))
            continue
        if text[i] != ":":
            raise SyntaxProblem(f"unexpected character {text[i]!r} after {name!r}")
        i += 1
        while i < n and text[i].isspace():
            i += 1
        if i < n and text[i] == "'":
            i += 1
            buf: list[str] = []
            while True:
                if i >= n:
                    raise SyntaxProblem(f"missing closing quote in value of {name!r}")
                c = text[i]
                if c == "\\" and i + 1 < n and text[i + 1] in "'\\":
                    buf.append(text[i + 1])
                    i += 2
                elif c == "'":
                    i += 1
                    break
                else:
                    buf.append(c)
                    i += 1
            items.append((name, "".join(buf)))
        else:
            start = i
            while i < n and text[i] not in separators:
                i += 1
            items.append((name, text[start:i].rstrip()))


def parse_actions(text: str) -> list[Action]:
    """``"id:1,phase:2,'msg:x'"`` -> actions, names lower-cased."""
    return [Action(name.lower(), value) for name, value in _split_items(text, ",")]


def _key_regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.IGNORECASE | re.DOTALL)
    except re.error as exc:
        raise SyntaxProblem(f"bad key regex /{pattern}/: {exc}") from exc


def parse_target(name: str, key: str | None) -> Target:
    """One variable (``!ARGS``, ``&TX``) with an optional key or ``/regex/`` key."""
    negated = count = False
    name = name.strip()
    if name.startswith("!"):
        negated, name = True, name[1:]
    if name.startswith("&"):
        count, name = True, name[1:]
    if not name or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise SyntaxProblem(f"bad variable name {name!r}")
    upper = name.upper()
    if key is not None and len(key) >= 2 and key.startswith("/") and key.endswith("/"):
        return Target(upper, None, _key_regex(key[1:-1]), negated, count)
    if key == "":
        key = None
    return Target(upper, key, None, negated, count)


def parse_targets(text: str) -> list[Target]:
    """``"ARGS|!ARGS:foo|&TX:x|XML:/*"`` -> targets."""
    out = [parse_target(name, value) for name, value in _split_items(text, "|")]
    if not out:
        raise SyntaxProblem("empty variable list")
    return out


def parse_operator(text: str) -> tuple[str, str, bool]:
    """``"!@eq 0"`` -> (``"eq"``, ``"0"``, negated); a bare pattern means ``@rx``."""
    negated = False
    s = text
    if s.startswith("!"):
        negated, s = True, s[1:]
    if not s.startswith("@"):
        return "rx", s, negated
    m = re.match(r"@([A-Za-z0-9_]+)", s)
    if m is None:
        raise SyntaxProblem(f"bad operator {text!r}")
    rest = s[m.end():]
    return m.group(1).lower(), rest.lstrip(" \t"), negated
