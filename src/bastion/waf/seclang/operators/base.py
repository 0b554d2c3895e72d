"""The operator contract between the engine and the operators.

An operator factory compiles its argument once (regex, phrase automaton, CIDR set) and returns
an object whose ``evaluate(tx, value)`` answers match / no match. Negation (``!@rx``) belongs
to the engine. Arguments that contain a macro (``%{tx.foo}``) are expanded at evaluate time
through ``tx.expand``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bastion.errors import ConfigError

__all__ = [
    "MacroText",
    "Operator",
    "OperatorError",
    "OperatorFactory",
    "OperatorOptions",
    "OperatorTx",
    "has_macro",
]


class OperatorTx(Protocol):
    """What an operator may ask of the running transaction."""

    @property
    def capture(self) -> bool:
        """True when the running rule has the ``capture`` action (an attribute works too)."""
        ...

    def expand(self, text: str) -> str:
        """Macro-expand ``text`` (``%{tx.foo}`` etc.)."""
        ...

    def set_captures(self, groups: Sequence[str]) -> None:
        """Set TX.0.. from ``groups`` (called only when ``capture`` is true)."""
        ...


@dataclass(frozen=True)
class OperatorOptions:
    """Load-time context for an operator."""

    base_dir: Path
    """Directory of the rule file; relative data-file paths resolve against it."""
    match_limit: int = 1000000
    """Regex match limit (``SecPcreMatchLimit``)."""


class Operator(Protocol):
    """A compiled operator."""

    def evaluate(self, tx: OperatorTx, value: str) -> bool:
        """True when ``value`` matches."""
        ...


OperatorFactory = Callable[[str, OperatorOptions], Operator]
"""(argument text, options) -> compiled operator; raises ``OperatorError`` on a bad argument."""


class OperatorError(ConfigError):
    """Raised at load time for a bad operator argument or an unsupported operator."""


def has_macro(text: str) -> bool:
    """True when ``text`` contains a ``%{...}`` macro the engine must expand."""
    start = text.find("%{")
    return start >= 0 and text.find("}", start) > start


class MacroText:
    """An operator argument that may hold macros: static text is returned as is."""

    __slots__ = ("dynamic", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.dynamic = has_macro(text)

    def value(self, tx: OperatorTx) -> str:
        """The argument for this evaluation."""
        return tx.expand(self.text) if self.dynamic else self.text
