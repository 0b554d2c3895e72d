"""An ordered, case-preserving, case-insensitively searchable header list."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

__all__ = ["Headers"]


class Headers:
    """Immutable view over ``(name, value)`` pairs as the client sent them.

    Names keep their case (API Gateway passes them to handlers as sent); lookups ignore case.
    The lower-cased index is built on first lookup, so a request nobody inspects pays nothing.
    """

    __slots__ = ("_index", "_items")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: tuple[tuple[str, str], ...] = tuple(items)
        self._index: dict[str, list[str]] | None = None

    @classmethod
    def from_asgi(cls, raw: Iterable[tuple[bytes, bytes]]) -> Headers:
        return cls((k.decode("latin-1"), v.decode("latin-1")) for k, v in raw)

    def _idx(self) -> dict[str, list[str]]:
        idx = self._index
        if idx is None:
            idx = {}
            for k, v in self._items:
                idx.setdefault(k.lower(), []).append(v)
            self._index = idx
        return idx

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name``, or ``default``."""
        vals = self._idx().get(name.lower())
        return vals[0] if vals else default

    def get_all(self, name: str) -> list[str]:
        return list(self._idx().get(name.lower(), ()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._idx()

    def items(self) -> tuple[tuple[str, str], ...]:
        return self._items

    def names(self) -> list[str]:
        return [k for k, _ in self._items]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({len(self._items)} fields)"
