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
    "UnsupportedOperatorError",
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
        """Replace TX.0-TX.9 with ``groups`` (TX.0..TX.n set, the rest unset).

        Called only when ``capture`` is true and the operator matched: @rx (whole match and
        groups), @pm/@pmFromFile (the phrase), @verifyCC (the number), @detectSQLi (the
        fingerprint; v2 leaves TX.1-TX.9 alone there, a difference no CRS rule can see).
        A transaction may also define ``note_pcre_limits_exceeded()``: @rx calls it when PCRE
        gives up on its limits (v2 sets ``TX:MSC_PCRE_LIMITS_EXCEEDED=1``).
        """
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


class UnsupportedOperatorError(OperatorError):
    """Raised at load time by operators we deliberately do not run (network or external data).

    CRS 3.3.4 has two of them in active rules (910130 ``@geoLookup``, 910140 ``@rbl``), both
    behind runtime switches that are off by default; v2 itself loads them and then finds no
    match without a GeoIP database / http:BL key. An engine that wants to load CRS catches this
    class and compiles such a rule as never matching (with a warning).
    """


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
