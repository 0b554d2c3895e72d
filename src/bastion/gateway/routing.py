"""Route matching as API Gateway does it: stage prefix, literal > {param} > {proxy+}.

Routes compile once into a segment trie. A miss (unknown path, or a known path without this
method) is API Gateway's 403 "Missing Authentication Token", which the route stage returns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from urllib.parse import unquote

from bastion.errors import ConfigError

__all__ = ["Router", "RouterMatch"]

T = TypeVar("T")
ANY = "ANY"


@dataclass(slots=True)
class _Node(Generic[T]):
    literals: dict[str, _Node[T]] = field(default_factory=dict)
    param: tuple[str, _Node[T]] | None = None
    greedy: tuple[str, dict[str, T], str] | None = None  # {proxy+}: name, methods, template
    methods: dict[str, T] = field(default_factory=dict)
    template: str = ""


@dataclass(slots=True)
class RouterMatch(Generic[T]):
    """One per routed request, read once by the route stage: not frozen, since a frozen
    dataclass pays an ``object.__setattr__`` per field on construction (~0.5 us here)."""

    target: T
    template: str
    params: dict[str, str]


def _split(template: str) -> list[str]:
    return [s for s in template.strip("/").split("/") if s] if template != "/" else []


class Router(Generic[T]):
    """Maps (method, path) to a target; the path is relative to the stage."""

    def __init__(self, routes: Iterable[tuple[str, str, T]]) -> None:
        self._root: _Node[T] = _Node(template="/")
        for method, template, target in routes:
            self._add(method.upper(), template, target)

    def _add(self, method: str, template: str, target: T) -> None:
        node = self._root
        segments = _split(template)
        for i, seg in enumerate(segments):
            if seg.startswith("{") and seg.endswith("+}"):
                if i != len(segments) - 1:
                    raise ConfigError(f"greedy parameter {seg} must be the last segment",
                                      key=f"paths.{template}")
                name = seg[1:-2]
                if node.greedy is None:
                    node.greedy = (name, {}, template)
                elif node.greedy[0] != name:
                    raise ConfigError(f"conflicting greedy parameters {{{node.greedy[0]}+}} "
                                      f"and {seg}", key=f"paths.{template}")
                self._put(node.greedy[1], method, target, template)
                return
            if seg.startswith("{") and seg.endswith("}"):
                name = seg[1:-1]
                if node.param is None:
                    node.param = (name, _Node())
                elif node.param[0] != name:
                    raise ConfigError(f"conflicting path parameters {{{node.param[0]}}} and "
                                      f"{seg} at the same position", key=f"paths.{template}")
                node = node.param[1]
            else:
                node = node.literals.setdefault(seg, _Node())
        node.template = template
        self._put(node.methods, method, target, template)

    @staticmethod
    def _put(methods: dict[str, T], method: str, target: T, template: str) -> None:
        if method in methods:
            raise ConfigError(f"duplicate operation {method} {template}",
                              key=f"paths.{template}")
        methods[method] = target

    def match(self, method: str, path: str) -> RouterMatch[T] | None:
        """``path`` is the raw (percent-encoded) path below the stage prefix."""
        # API Gateway ignores empty segments (//) and a trailing slash for matching.
        segments = [s for s in path.split("/") if s]
        return self._walk(self._root, segments, 0, method, {}, path)

    def _walk(self, node: _Node[T], segs: list[str], i: int, method: str,
              params: dict[str, str], path: str) -> RouterMatch[T] | None:
        if i == len(segs):
            target = node.methods.get(method) or node.methods.get(ANY)
            if target is not None:
                return RouterMatch(target, node.template, dict(params))
            return None
        seg = segs[i]
        child = node.literals.get(seg)
        if child is None and "%" in seg:
            child = node.literals.get(unquote(seg))
        if child is not None:
            found = self._walk(child, segs, i + 1, method, params, path)
            if found is not None:
                return found
        if node.param is not None:
            name, pnode = node.param
            params[name] = seg
            found = self._walk(pnode, segs, i + 1, method, params, path)
            if found is not None:
                return found
            del params[name]
        if node.greedy is not None:
            name, methods, template = node.greedy
            target = methods.get(method) or methods.get(ANY)
            if target is not None:
                out = dict(params)
                out[name] = _greedy_value(path, i)
                return RouterMatch(target, template, out)
        return None


def _greedy_value(path: str, index: int) -> str:
    """The rest of the path from segment ``index``, keeping inner ``//`` as API Gateway does."""
    rest = path.lstrip("/")
    for _ in range(index):
        rest = rest.split("/", 1)[1] if "/" in rest else ""
        rest = rest.lstrip("/")
    return rest.rstrip("/")

