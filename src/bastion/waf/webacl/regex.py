"""Regexes for RegexMatch and regex pattern sets: PCRE2 with a match limit.

AWS WAF's regex syntax is PCRE's (without back-references and look-arounds). Bastion compiles
user patterns once with PCRE2 (JIT) through the SecLang engine's ``Regex``, which bounds every
match with ``(*LIMIT_MATCH)``/``(*LIMIT_DEPTH)``: a pattern with catastrophic backtracking on a
crafted 64 KB body gives up instead of stalling the event loop. A match that gives up counts as
no match (ModSecurity's rule) and is counted in ``GAVE_UP`` so an operator can see it happen.
"""

from __future__ import annotations

import itertools

from bastion.waf.seclang.operators.pcre import MatchLimitExceeded, Regex, RegexCompileError

__all__ = ["GAVE_UP", "MATCH_LIMIT", "Pattern", "RegexCompileError", "compile_pattern"]

MATCH_LIMIT = 100_000  # ModSecurity's recommended SecPcreMatchLimit
GAVE_UP = itertools.count()  # next(GAVE_UP) on each give-up; read with a copy, never reset


class Pattern:
    """One compiled pattern; ``search(data)`` is True when it matches somewhere in ``data``."""

    __slots__ = ("_rx", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self._rx = Regex(source.encode("utf-8"), 0, MATCH_LIMIT)

    def search(self, data: bytes) -> bool:
        try:
            return self._rx.search(data) is not None
        except MatchLimitExceeded:
            next(GAVE_UP)
            return False

    def __repr__(self) -> str:
        return f"Pattern({self.source!r})"


def compile_pattern(source: str) -> Pattern:
    """Raises ``RegexCompileError`` (a ValueError) with PCRE2's message for a bad pattern."""
    return Pattern(source)
