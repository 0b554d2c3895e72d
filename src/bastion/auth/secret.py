"""``Secret``: a string that never shows itself by accident.

Secret access keys and session tokens travel through config loaders, dataclasses and log
records; wrapping them means ``repr``/``str``/f-strings/tracebacks print ``**********`` and only
code that asks for ``reveal()`` sees the value.
"""

from __future__ import annotations

import hmac
from typing import Final

__all__ = ["Secret"]

_MASK: Final = "**********"


class Secret:
    """A masked string; compare with ``matches`` (constant time), read with ``reveal``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret wraps a str")
        self._value = value

    def reveal(self) -> str:
        """The plain value; call it only where the value is used (HMAC key, comparison)."""
        return self._value

    def matches(self, other: str) -> bool:
        """Constant-time equality with ``other``."""
        return hmac.compare_digest(self._value.encode(), other.encode())

    def __repr__(self) -> str:
        return f"Secret('{_MASK}')"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, spec: str) -> str:
        return _MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret is not picklable")
