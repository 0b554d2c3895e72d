"""Where the engine finds operators and transformations.

The primitives live in ``bastion.waf.seclang.operators`` and ``.transformations`` (their own
packages, with their own contract). The engine only needs two look-ups, so it takes them as a
small injectable object: tests and embedders can swap the set, and the engine never imports a
primitive module by name.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bastion.waf.seclang.rules import OperatorLike, Transformation

__all__ = ["Primitives", "default_primitives"]


@dataclass(frozen=True, slots=True)
class Primitives:
    """``operator(name, param, base_dir, match_limit)`` and ``transformation(name)``."""

    operators: Any  # module-like: get(name) -> factory(param, OperatorOptions)
    transformations: Any  # module-like: get(name) -> Callable[[str], str]
    options_type: Any  # OperatorOptions dataclass

    def operator(self, name: str, param: str, base_dir: Path, match_limit: int) -> OperatorLike:
        factory = self.operators.get(name)
        op: OperatorLike = factory(param, self.options_type(base_dir=base_dir,
                                                             match_limit=match_limit))
        return op

    def transformation(self, name: str) -> Transformation:
        fn: Transformation = self.transformations.get(name)
        return fn


def default_primitives() -> Primitives:
    """The project's own operator and transformation packages."""
    ops = importlib.import_module("bastion.waf.seclang.operators")
    tfns = importlib.import_module("bastion.waf.seclang.transformations")
    base = importlib.import_module("bastion.waf.seclang.operators.base")
    return Primitives(ops, tfns, base.OperatorOptions)
