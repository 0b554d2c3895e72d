"""Wildcard patterns (``*`` any run, ``?`` one character), compiled once.

A pattern is a sequence of pieces; a piece is literal text or wildcard-capable text. Keeping the
two apart is what lets ``${*}`` mean a literal asterisk and lets substituted policy-variable
values stay literal (a user named ``*`` must not match everything).

Matching is linear-ish by construction: patterns with at most two ``*`` use a regex (at worst
quadratic in the value), longer ones the classic greedy wildcard algorithm (O(len(pattern) x
len(value)), no backtracking blow-up), so an attacker-chosen long path cannot make a policy with
many stars expensive.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Final

__all__ = ["Glob", "Piece", "compile_glob", "glob_pieces", "glob_regex", "has_wildcard"]

Piece = tuple[str, bool]  # (text, is_literal)
_STAR: Final = object()
_ANY: Final = object()
_REGEX_MAX_STARS = 2


def has_wildcard(text: str) -> bool:
    return "*" in text or "?" in text


def glob_pieces(text: str) -> list[Piece]:
    """All of ``text`` as wildcard-capable (not literal) pieces."""
    return [(text, False)]


class Glob:
    """A compiled wildcard pattern; ``match`` tests a whole value."""

    __slots__ = ("_fold", "_regex", "_tokens")

    def __init__(self, pieces: Sequence[Piece], ignore_case: bool) -> None:
        self._fold = ignore_case
        tokens: list[object] = []
        regex: list[str] = []
        for text, literal in pieces:
            for ch in text:
                if not literal and ch == "*":
                    if not tokens or tokens[-1] is not _STAR:  # '**' == '*'
                        tokens.append(_STAR)
                        regex.append(".*")
                elif not literal and ch == "?":
                    tokens.append(_ANY)
                    regex.append(".")
                else:
                    tokens.append(ch.lower() if ignore_case else ch)
                    regex.append(re.escape(ch))
        self._tokens = tuple(tokens)
        stars = sum(1 for t in tokens if t is _STAR)
        flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
        self._regex = re.compile("".join(regex), flags) if stars <= _REGEX_MAX_STARS else None

    def match(self, value: str) -> bool:
        if self._regex is not None:
            return self._regex.fullmatch(value) is not None
        return _wildmatch(self._tokens, value.lower() if self._fold else value)


def _wildmatch(tokens: tuple[object, ...], value: str) -> bool:
    i = j = 0
    star = -1
    mark = 0
    n = len(tokens)
    while j < len(value):
        if i < n and (tokens[i] is _ANY or tokens[i] == value[j]):
            i += 1
            j += 1
        elif i < n and tokens[i] is _STAR:
            star, mark = i, j
            i += 1
        elif star >= 0:
            i = star + 1
            mark += 1
            j = mark
        else:
            return False
    while i < n and tokens[i] is _STAR:
        i += 1
    return i == n


def glob_regex(pieces: Sequence[Piece], *, ignore_case: bool = False) -> Glob:
    """Compiled (cached) matcher for pieces; ``*`` may cross any character."""
    return _compile(tuple(pieces), ignore_case)


@lru_cache(maxsize=8192)
def _compile(pieces: tuple[Piece, ...], ignore_case: bool) -> Glob:
    return Glob(pieces, ignore_case)


def compile_glob(text: str, ignore_case: bool = False) -> Glob:
    """Cached matcher for a plain wildcard string (no policy variables)."""
    return _compile(((text, False),), ignore_case)
