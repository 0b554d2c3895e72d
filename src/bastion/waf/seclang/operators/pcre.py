"""PCRE2 with ModSecurity v2's compile flags and a match limit, on byte strings.

ModSecurity v2 compiles ``@rx`` with ``PCRE_DOTALL | PCRE_DOLLAR_ENDONLY`` (no UTF, no
MULTILINE, no implicit caseless) and runs it on raw bytes under ``SecPcreMatchLimit``. We use the
``pcre2`` wheel (PCRE2 statically linked) and put the limit into the pattern with PCRE2's
``(*LIMIT_MATCH=n)(*LIMIT_DEPTH=n)`` start-of-pattern items, which can only lower the library
default (10,000,000). Like ModSecurity 2.9.7 built with PCRE2 (Debian's), a match runs JIT
first and, when the JIT stack is too small, again in the interpreter. A hit limit is reported
as ``MatchLimitExceeded``; callers treat it as "no match" the way v2 does (v2 also sets
``TX:MSC_PCRE_LIMITS_EXCEEDED``).
"""

from __future__ import annotations

from typing import Any

import pcre2  # type: ignore[import-untyped]

__all__ = [
    "DOLLAR_ENDONLY",
    "DOTALL",
    "MULTILINE",
    "MatchLimitExceeded",
    "Regex",
    "RegexCompileError",
]

DOTALL: int = int(pcre2.DOTALL)
MULTILINE: int = int(pcre2.MULTILINE)
DOLLAR_ENDONLY = 0x00000010  # PCRE2_DOLLAR_ENDONLY; the wheel has no named flag for it
_NOTEMPTY = 0x00000004  # PCRE2_NOTEMPTY match option
_JIT_STACKLIMIT = -46
# MATCHLIMIT, DEPTHLIMIT, HEAPLIMIT (and JIT_STACKLIMIT if the interpreter still reports it):
# all mean "gave up", never "no match".
_LIMIT_ERRORS = frozenset({_JIT_STACKLIMIT, -47, -53, -63})


class MatchLimitExceeded(Exception):
    """The regex hit its match, depth or heap limit before deciding."""


class RegexCompileError(ValueError):
    """The pattern does not compile; ``message`` says why."""


class Regex:
    """One compiled byte pattern. ``search`` returns spans of groups 0..n or None."""

    __slots__ = ("_compiled", "_flags", "_interpreted", "_limited", "groups", "source")

    def __init__(self, source: bytes, flags: int, match_limit: int) -> None:
        self.source = source
        limit = max(1, int(match_limit))
        self._limited = b"(*LIMIT_MATCH=%d)(*LIMIT_DEPTH=%d)" % (limit, limit) + source
        self._flags = flags
        self._interpreted: Any = None
        try:
            self._compiled: Any = pcre2.compile(self._limited, flags)
        except pcre2.PatternError as exc:
            raise RegexCompileError(str(exc)) from None
        self.groups: int = int(self._compiled.groups)

    def _interpreter(self) -> Any:
        if self._interpreted is None:
            self._interpreted = pcre2.compile(self._limited, self._flags, jit=False)
        return self._interpreted

    def search(self, data: bytes, pos: int = 0, *, notempty: bool = False) -> Any:
        """The first match at or after ``pos`` (a ``pcre2.Match``) or None.

        Raises ``MatchLimitExceeded`` when PCRE2 gives up on its limits.
        """
        try:
            return self._run(self._compiled, data, pos, notempty)
        except pcre2.LibraryError as exc:
            if getattr(exc, "code", None) != _JIT_STACKLIMIT:
                return self._gave_up(exc)
        try:
            return self._run(self._interpreter(), data, pos, notempty)
        except pcre2.LibraryError as exc:
            return self._gave_up(exc)

    @staticmethod
    def _run(pattern: Any, data: bytes, pos: int, notempty: bool) -> Any:
        if notempty:
            return pattern._match(data, pos, len(data), _NOTEMPTY)
        return pattern.search(data, pos)

    @staticmethod
    def _gave_up(exc: Exception) -> Any:
        if getattr(exc, "code", None) in _LIMIT_ERRORS:
            raise MatchLimitExceeded(str(exc)) from None
        raise exc
