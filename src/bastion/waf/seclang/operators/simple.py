"""@unconditionalMatch, @noMatch.

Description: always match / never match (SecAction uses unconditionalMatch).
Example: ``SecRule REQUEST_URI "@unconditionalMatch" ...`` runs its actions for every value.
"""

from __future__ import annotations

from bastion.waf.seclang.operators.base import OperatorOptions, OperatorTx
from bastion.waf.seclang.operators.registry import register

__all__ = ["ConstantOperator"]


class ConstantOperator:
    """An operator with a fixed answer."""

    __slots__ = ("answer",)

    def __init__(self, answer: bool) -> None:
        self.answer = answer

    def evaluate(self, tx: OperatorTx, value: str) -> bool:
        """The fixed answer."""
        return self.answer


def unconditional_match(argument: str, options: OperatorOptions) -> ConstantOperator:
    """Factory of @unconditionalMatch."""
    return ConstantOperator(True)


def no_match(argument: str, options: OperatorOptions) -> ConstantOperator:
    """Factory of @noMatch."""
    return ConstantOperator(False)


register("unconditionalMatch", unconditional_match)
register("noMatch", no_match)
