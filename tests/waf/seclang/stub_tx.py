"""A minimal ``OperatorTx`` for operator tests: a dict of macros and a capture log."""

from __future__ import annotations

import re
from collections.abc import Sequence

_MACRO = re.compile(r"%\{([^}]+)\}")


class StubTx:
    """Expands ``%{name}`` from ``macros`` (case-insensitive, missing -> empty)."""

    def __init__(self, macros: dict[str, str] | None = None, *, capture: bool = False) -> None:
        self.macros = {k.lower(): v for k, v in (macros or {}).items()}
        self.capture = capture
        self.captures: list[list[str]] = []
        self.limit_notes = 0
        self.expansions = 0

    def expand(self, text: str) -> str:
        self.expansions += 1
        return _MACRO.sub(lambda m: self.macros.get(m.group(1).lower(), ""), text)

    def set_captures(self, groups: Sequence[str]) -> None:
        self.captures.append(list(groups))

    def note_pcre_limits_exceeded(self) -> None:
        self.limit_notes += 1
