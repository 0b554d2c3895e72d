"""Load-time findings, each pinned to a file and a JSON path.

A Web ACL field Bastion does not implement is never dropped quietly: it becomes an ``Issue``.
``error`` means the document is invalid (AWS would reject it too), ``unsupported`` means AWS accepts
it but Bastion cannot enforce it as AWS would, ``warning`` means it loads and behaves as on AWS but
deserves a look (an override naming no rule of a managed group, which AWS ignores silently).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from bastion.errors import ConfigError, ConfigErrors

__all__ = ["Issue", "Issues", "Severity"]

Severity = Literal["error", "unsupported", "warning"]


@dataclass(frozen=True, slots=True)
class Issue:
    severity: Severity
    path: str
    message: str
    file: str | None = None

    def render(self) -> str:
        return f"{self.file or '<webacl>'}: {self.path}: {self.severity}: {self.message}"

    def to_error(self) -> ConfigError:
        return ConfigError(f"{self.severity}: {self.message}", file=self.file, key=self.path)


class Issues:
    """An append-only list of findings for one load."""

    __slots__ = ("file", "items")

    def __init__(self, file: str | None = None) -> None:
        self.file = file
        self.items: list[Issue] = []

    def add(self, severity: Severity, path: str, message: str) -> None:
        self.items.append(Issue(severity, path, message, self.file))

    def error(self, path: str, message: str) -> None:
        self.add("error", path, message)

    def unsupported(self, path: str, message: str) -> None:
        self.add("unsupported", path, message)

    def warning(self, path: str, message: str) -> None:
        self.add("warning", path, message)

    def __iter__(self) -> Iterator[Issue]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def blocking(self, *, strict: bool) -> list[Issue]:
        """The findings that stop a load: errors always, unsupported fields when strict."""
        bad = {"error", "unsupported"} if strict else {"error"}
        return [i for i in self.items if i.severity in bad]

    def raise_if(self, *, strict: bool) -> None:
        bad = self.blocking(strict=strict)
        if bad:
            raise ConfigErrors([i.to_error() for i in bad])
