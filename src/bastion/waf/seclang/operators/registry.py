"""The operator registry: name without ``@`` (case-insensitive) -> factory."""

from __future__ import annotations

from bastion.waf.seclang.operators.base import OperatorFactory

__all__ = ["get", "names", "register"]

_REGISTRY: dict[str, tuple[str, OperatorFactory]] = {}


def register(name: str, factory: OperatorFactory) -> None:
    """Register ``factory`` under ``name``; a second registration of one name is a bug."""
    key = name.lower()
    if key in _REGISTRY:
        raise ValueError(f"operator {name!r} registered twice")
    _REGISTRY[key] = (name, factory)


def get(name: str) -> OperatorFactory:
    """The factory of operator ``name`` (no ``@``, any case); ``KeyError`` if unknown."""
    try:
        return _REGISTRY[name.lower()][1]
    except KeyError:
        raise KeyError(f"unknown operator {name!r}") from None


def names() -> list[str]:
    """Every registered operator name in its canonical spelling, sorted."""
    return sorted(canonical for canonical, _ in _REGISTRY.values())
