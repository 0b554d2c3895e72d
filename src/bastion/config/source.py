"""Loading YAML/JSON while remembering where every key came from.

Mappings load as ``LocDict`` and sequences as ``LocList``; both know their own line and the
line of each key/item, so any later check can say "file:line: key: problem".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from bastion.errors import ConfigError

__all__ = ["LocDict", "LocList", "line_of", "load_document"]


class LocDict(dict[str, Any]):
    """A dict that knows the line of itself and of each key (1-based)."""

    line: int | None = None
    key_lines: dict[str, int]

    def key_line(self, key: str) -> int | None:
        return getattr(self, "key_lines", {}).get(key, self.line)


class LocList(list[Any]):
    """A list that knows the line of itself and of each item (1-based)."""

    line: int | None = None
    item_lines: list[int]

    def item_line(self, index: int) -> int | None:
        lines = getattr(self, "item_lines", [])
        return lines[index] if index < len(lines) else self.line


def line_of(value: Any) -> int | None:
    return getattr(value, "line", None)


class _Loader(yaml.SafeLoader):
    """SafeLoader that builds Loc containers; never constructs arbitrary objects."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LocDict:
    out = LocDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            key = str(key)
        if key in out:
            raise ConfigError(
                "duplicate key", line=key_node.start_mark.line + 1, key=key
            )
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LocList:
    out = LocList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_document(path: Path) -> Any:
    """Parse a YAML or JSON file; syntax errors become a ConfigError with file and line."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", file=name) from None
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror}", file=name) from None
    except UnicodeDecodeError:
        raise ConfigError("file is not UTF-8 text", file=name) from None
    try:
        return yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader subclass
    except ConfigError as exc:
        raise ConfigError(exc.message, file=name, line=exc.line, key=exc.key) from None
    except yaml.MarkedYAMLError as exc:
        if path.suffix == ".json":
            return _load_json(text, name)
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"invalid YAML: {exc.problem}", file=name, line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=name) from None


def _load_json(text: str, name: str) -> Any:
    """JSON that YAML 1.1 cannot read (tabs, ``\\/``): plain JSON, without key lines."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"invalid JSON: {exc.msg}", file=name, line=exc.lineno) from None
