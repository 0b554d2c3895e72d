"""@rx: PCRE regular expression match, the way ModSecurity v2 runs it.

Description: flags DOTALL|DOLLAR_ENDONLY, raw bytes, match limit from ``OperatorOptions``. With
``capture``, TX.0 is the whole match and TX.1-TX.9 the groups, set up to the highest group that
took part (groups that did not take part in between are empty); like v2's 30-int ovector, a
match whose highest group is 10 or more sets no captures. A pattern with a macro is expanded per
evaluation, escaped with v2's ``log_escape_re`` (yes, v2 escapes the whole expanded pattern) and
compiled once per distinct text. A hit match limit is "no match": ``limit_hits`` counts them and
``tx.note_pcre_limits_exceeded()`` is called when the transaction has it (v2 sets
``TX:MSC_PCRE_LIMITS_EXCEEDED=1``).
Example: ``@rx ^(a+)b`` on ``"aab"`` matches; with capture TX.0 = ``"aab"``, TX.1 = ``"aa"``.
"""

from __future__ import annotations

from bastion.waf.seclang.operators.base import (
    Operator,
    OperatorError,
    OperatorOptions,
    OperatorTx,
)
from bastion.waf.seclang.operators.pcre import (
    DOLLAR_ENDONLY,
    DOTALL,
    MatchLimitExceeded,
    Regex,
    RegexCompileError,
)
from bastion.waf.seclang.operators.registry import register

__all__ = ["RxOperator", "log_escape_re", "pattern_of"]

_FLAGS = DOTALL | DOLLAR_ENDONLY
_MAX_CAPTURES = 10
_DYNAMIC_CACHE_SIZE = 256
_MEMO_SIZE = 1024  # remembered results per static pattern (with the length: <= ~256 KB)
_MEMO_VALUE_LEN = 256  # longer values are matched every time
_MISS: object = object()
_NO_CAPTURES: tuple[str, ...] = ("\0no captures",)  # a match whose groups v2 does not set

_ESCAPE_RE = {
    ":": "\\:", '"': '\\"', "+": "\\+", ".": "\\.", "]": "\\]", "[": "\\[", "(": "\\(",
    ")": "\\)", "?": "\\?", "/": "\\/", "\b": "\\b", "\n": "\\n", "\r": "\\r", "\t": "\\t",
    "\x0b": "\\v", "\\": "\\\\",
}
_ESCAPE_TABLE = str.maketrans(
    {
        **{chr(b): f"\\x{b:02x}" for b in range(256) if b <= 0x1F or b >= 0x7F},
        **_ESCAPE_RE,
    }
)


def log_escape_re(text: str) -> str:
    """ModSecurity v2 ``log_escape_re``: what v2 does to a macro-expanded @rx pattern."""
    return text.translate(_ESCAPE_TABLE)


class RxOperator:
    """A compiled @rx."""

    __slots__ = ("_cache", "_limit", "_memo", "_static", "dynamic", "limit_hits",
                 "regex_source")

    regex_source: str
    """The pattern text exactly as given to @rx (before any macro expansion)."""

    def __init__(self, argument: str, options: OperatorOptions) -> None:
        self.regex_source = argument
        self._limit = options.match_limit
        self.limit_hits = 0
        # v2 decides with strstr(pattern, "%{"): any "%{" makes the pattern dynamic (expanded and
        # log_escape_re'd per evaluation), even without a closing brace.
        self.dynamic = "%{" in argument
        self._cache: dict[str, Regex | None] = {}
        #: Static pattern: short value -> None (no match) or its captures (a pure function
        #: of the value, and the same header names and values come back request after request)
        self._memo: dict[str, tuple[str, ...] | None] = {}
        self._static: Regex | None = None
        if not self.dynamic:
            try:
                self._static = Regex(argument.encode("latin-1"), _FLAGS, self._limit)
            except RegexCompileError as exc:
                raise OperatorError(f"@rx: cannot compile {argument!r}: {exc}") from None

    def _dynamic_regex(self, tx: OperatorTx) -> Regex | None:
        text = log_escape_re(tx.expand(self.regex_source))
        try:
            return self._cache[text]
        except KeyError:
            pass
        try:
            regex: Regex | None = Regex(text.encode("latin-1"), _FLAGS, self._limit)
        except RegexCompileError:
            regex = None  # v2: a bad expanded pattern is an error, i.e. no match
        if len(self._cache) >= _DYNAMIC_CACHE_SIZE:
            self._cache.clear()
        self._cache[text] = regex
        return regex

    def _search(self, regex: Regex, data: bytes, tx: OperatorTx | None) -> object:
        try:
            return regex.search(data)
        except MatchLimitExceeded:
            self.limit_hits += 1
            note = getattr(tx, "note_pcre_limits_exceeded", None)
            if callable(note):
                note()
            return None

    def evaluate(self, tx: OperatorTx, value: str) -> bool:
        """Match ``value``; set captures when the rule captures."""
        if self._static is not None and len(value) <= _MEMO_VALUE_LEN:
            got = self._memo.get(value, _MISS)
            if got is _MISS:
                data = value.encode("latin-1")
                limit_hits = self.limit_hits
                m = self._search(self._static, data, tx)
                got = None if m is None else _captures(m, self._static.groups, data)
                if self.limit_hits != limit_hits:
                    return False  # not remembered: every transaction must note the limit
                if len(self._memo) >= _MEMO_SIZE:
                    self._memo.clear()
                self._memo[value] = got
            if got is None:
                return False
            if tx.capture and got is not _NO_CAPTURES:
                tx.set_captures(got)  # type: ignore[arg-type]
            return True
        regex = self._static if self._static is not None else self._dynamic_regex(tx)
        if regex is None:
            return False
        data = value.encode("latin-1")
        m = self._search(regex, data, tx)
        if m is None:
            return False
        if tx.capture:
            got = _captures(m, regex.groups, data)
            if got is not _NO_CAPTURES:
                tx.set_captures(got)
        return True

    def match_all(self, value: str) -> bool:
        """Match without a transaction and without captures (static patterns only).

        For the engine's prefilter confirm step (a hit limit counts in ``limit_hits`` and is
        False); a dynamic pattern raises ``ValueError``.
        """
        if self._static is None:
            raise ValueError("match_all() needs a static @rx pattern")
        return self._search(self._static, value.encode("latin-1"), None) is not None

    matches = match_all


def _captures(m: object, groups: int, data: bytes) -> tuple[str, ...]:
    """TX.0.. of a match (``_NO_CAPTURES`` when v2 would set none)."""
    highest = 0
    spans = []
    for i in range(groups + 1):
        start, end = m.span(i)  # type: ignore[attr-defined]
        spans.append((start, end))
        if start >= 0:
            highest = i
    if highest >= _MAX_CAPTURES:
        return _NO_CAPTURES
    return tuple(data[s:e].decode("latin-1") if s >= 0 else "" for s, e in spans[: highest + 1])


def pattern_of(op: Operator) -> str | None:
    """The regex source of a static @rx operator (for a Hyperscan prefilter), else None."""
    if isinstance(op, RxOperator) and not op.dynamic:
        return op.regex_source
    return None


register("rx", RxOperator)
