"""Test-only primitives until the operators/transformations branch is merged."""

from __future__ import annotations

from bastion.waf.seclang.registry import Primitives, default_primitives

from . import operators, transformations


def shim_primitives() -> Primitives:
    return Primitives(operators, transformations, operators.OperatorOptions)


def primitives() -> Primitives:
    """The real primitives when they exist on this branch, else the test shim."""
    try:
        return default_primitives()
    except ImportError:
        return shim_primitives()
