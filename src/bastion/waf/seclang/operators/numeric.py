"""@eq, @ge, @gt, @le, @lt: integer comparisons with C ``atoi`` on both sides.

Description (ModSecurity v2): the value and the macro-expanded argument both go through
``atoi`` (leading whitespace, sign, digits; ``"xxx"`` is 0), then compare.
Example: ``@eq 0`` matches ``""`` and ``"abc"``; ``@gt %{tx.limit}`` with tx.limit=5 matches "6".
"""

from __future__ import annotations

import operator
from collections.abc import Callable

from bastion.waf.seclang.cbytes import atoi
from bastion.waf.seclang.operators.base import MacroText, OperatorOptions, OperatorTx
from bastion.waf.seclang.operators.registry import register

__all__ = ["NumericOperator"]


class NumericOperator:
    """``compare(atoi(value), atoi(argument))``."""

    __slots__ = ("_arg", "_compare", "_static")

    def __init__(self, argument: str, compare: Callable[[int, int], bool]) -> None:
        self._arg = MacroText(argument)
        self._static = None if self._arg.dynamic else atoi(argument)
        self._compare = compare

    def evaluate(self, tx: OperatorTx, value: str) -> bool:
        """Compare the integers."""
        right = self._static if self._static is not None else atoi(self._arg.value(tx))
        return self._compare(atoi(value), right)


def _factory(compare: Callable[[int, int], bool]) -> Callable[[str, OperatorOptions],
                                                             NumericOperator]:
    def factory(argument: str, options: OperatorOptions) -> NumericOperator:
        return NumericOperator(argument, compare)

    return factory


register("eq", _factory(operator.eq))
register("ge", _factory(operator.ge))
register("gt", _factory(operator.gt))
register("le", _factory(operator.le))
register("lt", _factory(operator.lt))
