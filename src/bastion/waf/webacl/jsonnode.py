"""A JSON object read with its path: every key read is ticked off, the rest are reported.

This is how "never ignore a field silently" is enforced structurally: ``Node.finish()`` turns
every key nobody read into an Issue, as ``unsupported`` when AWS's model has it (we know it but do
not enforce it) or ``error`` when it is not a WAFv2 field at all (a typo AWS would reject).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from bastion.waf.webacl.issues import Issues

__all__ = ["Node"]

_MISSING = object()


class Node:
    """A view over one JSON object at ``path``."""

    __slots__ = ("_data", "_seen", "issues", "path")

    def __init__(self, data: Mapping[str, Any], path: str, issues: Issues) -> None:
        self._data = data
        self.path = path
        self.issues = issues
        self._seen: set[str] = set()

    @classmethod
    def of(cls, value: Any, path: str, issues: Issues) -> Node | None:
        if not isinstance(value, Mapping):
            issues.error(path, f"expected an object, got {type(value).__name__}")
            return None
        return cls(value, path, issues)

    def at(self, key: str) -> str:
        if not self.path or self.path.endswith(":"):
            return f"{self.path}{key}"
        return f"{self.path}.{key}"

    def has(self, key: str) -> bool:
        return key in self._data

    def keys(self) -> Iterator[str]:
        return iter(self._data)

    def raw(self, key: str, default: Any = None) -> Any:
        self._seen.add(key)
        return self._data.get(key, default)

    def get(self, key: str, kind: type | tuple[type, ...], *, required: bool = False,
            default: Any = None) -> Any:
        self._seen.add(key)
        value = self._data.get(key, _MISSING)
        if value is _MISSING:
            if required:
                self.issues.error(self.at(key), "required field is missing")
            return default
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            self.issues.error(self.at(key), f"expected {_kind(kind)}, got a boolean")
            return default
        if not isinstance(value, kind):
            self.issues.error(self.at(key), f"expected {_kind(kind)}, got {type(value).__name__}")
            return default
        return value

    def enum(self, key: str, allowed: frozenset[str] | tuple[str, ...], *,
             required: bool = False, default: str | None = None) -> str | None:
        value = self.get(key, str, required=required)
        if value is None:
            return default
        if value not in allowed:
            self.issues.error(self.at(key), f"{value!r} is not one of {', '.join(sorted(allowed))}")
            return default
        return str(value)

    def int_in(self, key: str, lo: int | None, hi: int | None, *, required: bool = False,
               default: int | None = None) -> int | None:
        value = self.get(key, int, required=required)
        if value is None:
            return default
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            self.issues.error(self.at(key), f"{value} is outside [{lo}, {hi}]")
            return default
        return int(value)

    def obj(self, key: str, *, required: bool = False) -> Node | None:
        self._seen.add(key)
        if key not in self._data:
            if required:
                self.issues.error(self.at(key), "required field is missing")
            return None
        return Node.of(self._data[key], self.at(key), self.issues)

    def objs(self, key: str, *, required: bool = False) -> list[Node]:
        value = self.get(key, list, required=required, default=[])
        out: list[Node] = []
        for i, item in enumerate(value):
            n = Node.of(item, f"{self.at(key)}[{i}]", self.issues)
            if n is not None:
                out.append(n)
        return out

    def strs(self, key: str, *, required: bool = False) -> list[str]:
        value = self.get(key, list, required=required, default=[])
        out: list[str] = []
        for i, item in enumerate(value):
            if isinstance(item, str):
                out.append(item)
            else:
                self.issues.error(f"{self.at(key)}[{i}]", "expected a string")
        return out

    def one_of(self, members: tuple[str, ...]) -> str | None:
        """The single member set among ``members`` (a WAFv2 union), reporting zero or several."""
        present = [m for m in members if m in self._data]
        self._seen.update(present)  # reported here, not again as unknown fields
        if len(present) != 1:
            what = "none" if not present else ", ".join(present)
            self.issues.error(
                self.path, f"exactly one of {', '.join(members)} expected, got {what}")
            return None
        return present[0]

    def finish(self, known_unsupported: Mapping[str, str] | None = None,
               informational: frozenset[str] = frozenset()) -> None:
        """Report every key not read: known-but-unsupported ones with the reason given."""
        for key in self._data:
            if key in self._seen or key in informational:
                continue
            reason = (known_unsupported or {}).get(key)
            if reason is not None:
                self.issues.unsupported(self.at(key), reason)
            else:
                self.issues.error(self.at(key), "unknown field (not in the WAFv2 model)")


def _kind(kind: type | tuple[type, ...]) -> str:
    if isinstance(kind, tuple):
        return " or ".join(k.__name__ for k in kind)
    return {"str": "a string", "int": "an integer", "list": "a list", "dict": "an object",
            "bool": "a boolean"}.get(kind.__name__, kind.__name__)
