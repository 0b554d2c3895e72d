"""@beginsWith, @endsWith, @contains, @containsWord, @within, @streq, @strmatch.

Description (ModSecurity v2): byte comparisons of the value against the macro-expanded argument.
An empty argument matches everything for beginsWith/endsWith/contains/containsWord. ``@within``
points the other way: the VALUE must be a substring of the argument (an empty value matches).
``@containsWord`` needs non-word characters (not ASCII alnum or ``_``) or the ends around the
word. ``@strmatch`` is a case-sensitive substring search for its ``parse_pm_content`` argument
(no macros).
Example: ``@within |GET|POST|`` does not match ``"PUT"``; ``@containsWord ab`` matches ``"x ab"``.
"""

from __future__ import annotations

from collections.abc import Callable

from bastion.waf.seclang.operators.base import (
    MacroText,
    OperatorError,
    OperatorOptions,
    OperatorTx,
)
from bastion.waf.seclang.operators.pm_content import PmContentError, parse_pm_content
from bastion.waf.seclang.operators.registry import register

__all__ = ["StringOperator", "contains_word", "strmatch"]


def _begins_with(value: str, arg: str) -> bool:
    return value.startswith(arg)


def _ends_with(value: str, arg: str) -> bool:
    return value.endswith(arg)


def _contains(value: str, arg: str) -> bool:
    return arg in value


def _within(value: str, arg: str) -> bool:
    return value in arg


def _streq(value: str, arg: str) -> bool:
    return value == arg


def _is_word_char(ch: str) -> bool:
    return ch == "_" or (ch.isascii() and ch.isalnum())


def contains_word(value: str, word: str) -> bool:
    """True when ``word`` occurs in ``value`` delimited by non-word characters or the ends."""
    if not word:
        return True
    n, m = len(value), len(word)
    start = value.find(word)
    while start >= 0:
        before_ok = start == 0 or not _is_word_char(value[start - 1])
        after_ok = start + m == n or not _is_word_char(value[start + m])
        if before_ok and after_ok:
            return True
        start = value.find(word, start + 1)
    return False


class StringOperator:
    """A comparison of the value with an argument that may hold macros."""

    __slots__ = ("_arg", "_compare")

    def __init__(self, argument: str, compare: Callable[[str, str], bool]) -> None:
        self._arg = MacroText(argument)
        self._compare = compare

    def evaluate(self, tx: OperatorTx, value: str) -> bool:
        """Compare ``value`` with the (expanded) argument."""
        return self._compare(value, self._arg.value(tx))


def _factory(compare: Callable[[str, str], bool]) -> Callable[[str, OperatorOptions],
                                                              StringOperator]:
    def factory(argument: str, options: OperatorOptions) -> StringOperator:
        return StringOperator(argument, compare)

    return factory


class StrmatchOperator:
    """@strmatch: a case-sensitive substring search."""

    __slots__ = ("needle",)

    def __init__(self, needle: str) -> None:
        self.needle = needle

    def evaluate(self, tx: OperatorTx, value: str) -> bool:
        """True when the needle occurs in ``value``."""
        return self.needle in value


def strmatch(argument: str, options: OperatorOptions) -> StrmatchOperator:
    """Factory of @strmatch."""
    try:
        return StrmatchOperator(parse_pm_content(argument))
    except PmContentError as exc:
        raise OperatorError(f"@strmatch: {exc}") from None


register("beginsWith", _factory(_begins_with))
register("endsWith", _factory(_ends_with))
register("contains", _factory(_contains))
register("containsWord", _factory(contains_word))
register("within", _factory(_within))
register("streq", _factory(_streq))
register("strmatch", strmatch)
