"""Wildcard patterns (``*`` any run, ``?`` one character) compiled once to regexes.

A pattern is a sequence of pieces; a piece is literal text or a wildcard. Keeping the two apart
is what lets ``${*}`` mean a literal asterisk and lets substituted policy-variable values stay
literal (a user named ``*`` must not match everything).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

__all__ = ["Piece", "compile_glob", "glob_pieces", "glob_regex", "has_wildcard"]

Piece = tuple[str, bool]  # (text, is_literal)


def has_wildcard(text: str) -> bool:
    return "*" in text or "?" in text


def glob_pieces(text: str) -> list[Piece]:
    """All of ``text`` as wildcard-capable (not literal) pieces."""
    return [(text, False)]


def glob_regex(pieces: Sequence[Piece], *, ignore_case: bool = False) -> re.Pattern[str]:
    """Anchored regex for pieces; ``*`` may cross any character (``/`` and ``:`` included)."""
    out: list[str] = []
    for text, literal in pieces:
        if literal:
            out.append(re.escape(text))
            continue
        for ch in text:
            if ch == "*":
                out.append(".*")
            elif ch == "?":
                out.append(".")
            else:
                out.append(re.escape(ch))
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile("".join(out), flags)


@lru_cache(maxsize=4096)
def compile_glob(text: str, ignore_case: bool = False) -> re.Pattern[str]:
    """Cached regex for a plain wildcard string (no policy variables)."""
    return glob_regex(glob_pieces(text), ignore_case=ignore_case)
