"""@verifyCC: credit-card number detection (regex candidate + Luhn check).

Description (ModSecurity v2): the argument is a regex (DOTALL|MULTILINE) that finds candidate
numbers; each candidate, scanning left to right, is checked with the Luhn algorithm over its
digits; the first valid one matches. With ``capture``, TX.0.. hold the candidate.
Example: ``@verifyCC \\d{13,16}`` matches ``"card 4111111111111111"``.
"""

from __future__ import annotations

from bastion.waf.seclang.operators.base import OperatorError, OperatorOptions, OperatorTx
from bastion.waf.seclang.operators.pcre import (
    DOTALL,
    MULTILINE,
    MatchLimitExceeded,
    Regex,
    RegexCompileError,
)
from bastion.waf.seclang.operators.registry import register

__all__ = ["VerifyCcOperator", "luhn"]

_WEIGHTED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def luhn(candidate: bytes) -> bool:
    """The Luhn check over the digits of ``candidate`` (non-digits ignored, as in v2)."""
    digits = [c - 0x30 for c in candidate if 0x30 <= c <= 0x39]
    if not digits:
        return False
    total = 0
    for position, digit in enumerate(reversed(digits)):
        total += _WEIGHTED[digit] if position % 2 else digit
    return total % 10 == 0


class VerifyCcOperator:
    """A compiled @verifyCC."""

    __slots__ = ("_regex",)

    def __init__(self, regex: Regex) -> None:
        self._regex = regex

    def evaluate(self, tx: OperatorTx, value: str) -> bool:
        """True when a Luhn-valid candidate is found."""
        data = value.encode("latin-1")
        offset = 0
        while offset < len(data):
            try:
                m = self._regex.search(data, offset, notempty=True)
            except MatchLimitExceeded:
                return False
            if m is None:
                return False
            start, end = m.span(0)
            if luhn(data[start:end]):
                if tx.capture:
                    count = 1 + max(i for i in range(self._regex.groups + 1) if m.span(i)[0] >= 0)
                    tx.set_captures([data[start:end].decode("latin-1")] * min(count, 10))
                return True
            offset = start + 1
        return False


def verify_cc(argument: str, options: OperatorOptions) -> VerifyCcOperator:
    """Factory of @verifyCC."""
    try:
        regex = Regex(argument.encode("latin-1"), DOTALL | MULTILINE, options.match_limit)
    except RegexCompileError as exc:
        raise OperatorError(f"@verifyCC: cannot compile {argument!r}: {exc}") from None
    return VerifyCcOperator(regex)


register("verifyCC", verify_cc)
