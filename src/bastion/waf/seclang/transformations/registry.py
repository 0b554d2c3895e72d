"""The transformation registry: ModSecurity name (case-insensitive) -> function.

Each transformation module ends with its ``register(...)`` lines, Coraza-style, so the list of
supported names is exactly the set of modules imported by the package ``__init__``.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Transformation", "get", "names", "register"]

Transformation = Callable[[str], str]
"""A byte-string (latin-1 ``str``) to byte-string function; never returns chars > U+00FF."""

_REGISTRY: dict[str, tuple[str, Transformation]] = {}


def register(name: str, fn: Transformation) -> None:
    """Register ``fn`` under ``name``; a second registration of one name is a bug."""
    key = name.lower()
    if key in _REGISTRY:
        raise ValueError(f"transformation {name!r} registered twice")
    _REGISTRY[key] = (name, fn)


def get(name: str) -> Transformation:
    """The transformation called ``name`` (any case); ``KeyError`` if there is none."""
    try:
        return _REGISTRY[name.lower()][1]
    except KeyError:
        raise KeyError(f"unknown transformation {name!r}") from None


def names() -> list[str]:
    """Every registered name, in its canonical ModSecurity spelling, sorted."""
    return sorted(canonical for canonical, _ in _REGISTRY.values())
