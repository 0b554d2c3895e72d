"""Typed reading of a loaded document, collecting every problem with its file, line and key."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from bastion.config.source import LocDict, LocList
from bastion.errors import ConfigError, ConfigErrors

__all__ = ["Problems", "Section"]

T = TypeVar("T")

_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
               dict: "a mapping", list: "a list"}


class Problems:
    """Collects ConfigErrors so a load reports all of them at once."""

    def __init__(self) -> None:
        self.errors: list[ConfigError] = []

    def add(self, message: str, *, file: str | None, line: int | None, key: str | None) -> None:
        self.errors.append(ConfigError(message, file=file, line=line, key=key))

    def extend(self, errors: Iterable[ConfigError]) -> None:
        self.errors.extend(errors)

    def raise_if_any(self) -> None:
        if self.errors:
            raise ConfigErrors(self.errors) if len(self.errors) > 1 else self.errors[0]


class Section:
    """A mapping at ``path`` in ``file``: typed getters that record problems, and a final
    ``done()`` that reports every key nobody asked for (unknown keys are errors, not ignored)."""

    def __init__(self, data: Any, *, file: str, path: str, problems: Problems,
                 anchor: int | None = None) -> None:
        self.anchor = anchor  # the line of the key that holds this section
        self.file = file
        self.path = path
        self.problems = problems
        self._seen: set[str] = set()
        if data is None:
            data = LocDict()
        if not isinstance(data, dict):
            self.error("must be a mapping", line=getattr(data, "line", None))
            data = LocDict()
        self.data: dict[str, Any] = data

    def key_path(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def line(self, key: str | None = None) -> int | None:
        if isinstance(self.data, LocDict):
            return self.data.key_line(key) if key else self.data.line
        return None

    def error(self, message: str, key: str | None = None, *, line: int | None = None) -> None:
        self.problems.add(
            message, file=self.file, line=line if line is not None else self.line(key),
            key=self.key_path(key) if key else (self.path or None),
        )

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: Any = None) -> Any:
        self._seen.add(key)
        return self.data.get(key, default)

    def get(self, key: str, kind: type[T], default: T, *, check: Callable[[T], str | None]
            | None = None, choices: Iterable[Any] | None = None) -> T:
        """The value of ``key`` as ``kind``; on a problem, record it and return ``default``."""
        self._seen.add(key)
        if key not in self.data or self.data[key] is None:
            return default
        value = self.data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.error(f"must be {_TYPE_NAMES.get(kind, kind.__name__)}, "
                       f"got {type(value).__name__} {value!r}", key)
            return default
        if choices is not None:
            allowed = list(choices)
            if value not in allowed:
                self.error(f"must be one of {', '.join(map(str, allowed))}; got {value!r}", key)
                return default
        if check is not None:
            problem = check(value)
            if problem:
                self.error(problem, key)
                return default
        return value

    def require(self, key: str, kind: type[T], default: T, **kw: Any) -> T:
        if key not in self.data:
            self.error("is required", key, line=self.anchor or self.line())
            self._seen.add(key)
            return default
        return self.get(key, kind, default, **kw)

    def section(self, key: str) -> Section:
        self._seen.add(key)
        return Section(self.data.get(key), file=self.file, path=self.key_path(key),
                       problems=self.problems, anchor=self.line(key))

    def items(self, key: str) -> list[tuple[int | None, Any]]:
        """The items of a list at ``key`` with their lines."""
        self._seen.add(key)
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.error("must be a list", key)
            return []
        lines = value.item_lines if isinstance(value, LocList) else [None] * len(value)
        return list(zip(lines, value, strict=False))

    def done(self, *, allow_extensions: bool = False) -> None:
        for key in self.data:
            if key in self._seen or (allow_extensions and key.startswith("x-")):
                continue
            self.error("unknown key", key)
