"""SecLang operators (``@NAME``), with ModSecurity v2 semantics.

``get(name)`` (no ``@``, case-insensitive; ``KeyError`` if unknown) returns an
``OperatorFactory``: ``factory(argument, OperatorOptions) -> Operator``; the operator's
``evaluate(tx, value) -> bool`` takes a latin-1 ``str`` value. See ``base`` for the protocols
and ``rx.pattern_of`` for the regex source a prefilter can use.
"""

from __future__ import annotations

from bastion.waf.seclang.operators import (  # noqa: F401 - imported to register
    injection,
    ipmatch,
    numeric,
    phrase,
    rx,
    simple,
    strings,
    unsupported,
    validate,
    verify_cc,
)
from bastion.waf.seclang.operators.base import (
    Operator,
    OperatorError,
    OperatorFactory,
    OperatorOptions,
    OperatorTx,
    UnsupportedOperatorError,
)
from bastion.waf.seclang.operators.registry import get, names

__all__ = [
    "Operator",
    "OperatorError",
    "OperatorFactory",
    "OperatorOptions",
    "OperatorTx",
    "UnsupportedOperatorError",
    "get",
    "names",
]
