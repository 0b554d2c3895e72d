"""Test-only primitives until the operators/transformations branch is merged.

Once ``bastion.waf.seclang.operators`` and ``.transformations`` exist, ``primitives()``
returns the real ones and this package can be deleted.
"""

from __future__ import annotations

from bastion.waf.seclang.registry import Primitives, default_primitives


def shim_primitives() -> Primitives:
    from . import operators, transformations

    return Primitives(operators, transformations, operators.OperatorOptions)


def primitives() -> Primitives:
    """The real primitives when they exist on this branch, else the test shim."""
    try:
        return default_primitives()
    except ImportError:
        return shim_primitives()
