"""Macro expansion: ``%{tx.anomaly_score}``, ``%{MATCHED_VAR}``, ``%{request_headers.host}``.

Templates are parsed once and cached. Names are case-insensitive. As in ModSecurity v2 a macro
whose variable does not exist expands to the empty string.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TypeVar

__all__ = ["Template", "compile_template", "expand"]

Part = str | tuple[str, str | None]
C = TypeVar("C")
#: A reference's value in a context (None: the variable does not exist).
Getter = Callable[[C], str | None]


class Template:
    """A parsed string: literal parts and (VARIABLE, key) references."""

    __slots__ = ("_lits", "_refs", "has_macros", "parts")

    def __init__(self, parts: tuple[Part, ...]) -> None:
        self.parts = parts
        self.has_macros = any(not isinstance(p, str) for p in parts)
        # as lits[0] ref[0] lits[1] ref[1] ... lits[n]: rendering needs no type tests
        lits: list[str] = [""]
        refs: list[tuple[str, str | None]] = []
        for p in parts:
            if isinstance(p, str):
                lits[-1] += p
            else:
                refs.append(p)
                lits.append("")
        self._lits = tuple(lits)
        self._refs = tuple(refs)

    def bind(self, getter: Callable[[str, str | None], Getter[C]]) -> Callable[[C], str]:
        """The template as one function of a context, with each reference's getter chosen
        once (``getter(VARIABLE, key)``) instead of dispatched on its name at every
        expansion."""
        lits = self._lits
        gets = tuple(getter(name, key) for name, key in self._refs)
        if not gets:
            text = lits[0]
            return lambda ctx: text
        if len(gets) == 1:
            before, get, after = lits[0], gets[0], lits[1]

            def one(ctx: C) -> str:
                v = get(ctx)
                return before + v + after if v is not None else before + after
            return one

        def many(ctx: C) -> str:
            out: list[str] = [lits[0]]
            for i, get in enumerate(gets):
                v = get(ctx)
                if v is not None:
                    out.append(v)
                out.append(lits[i + 1])
            return "".join(out)
        return many

    def render(self, resolve: Callable[[str, str | None], str | None]) -> str:
        lits = self._lits
        refs = self._refs
        if len(refs) == 1:
            v = resolve(refs[0][0], refs[0][1])
            return lits[0] + v + lits[1] if v is not None else lits[0] + lits[1]
        out: list[str] = [lits[0]]
        for i, (name, key) in enumerate(refs):
            v = resolve(name, key)
            if v is not None:
                out.append(v)
            out.append(lits[i + 1])
        return "".join(out)


@lru_cache(maxsize=8192)
def compile_template(text: str) -> Template:
    parts: list[Part] = []
    i = 0
    n = len(text)
    while i < n:
        j = text.find("%{", i)
        if j < 0:
            parts.append(text[i:])
            break
        k = text.find("}", j + 2)
        if k < 0:
            parts.append(text[i:])
            break
        if j > i:
            parts.append(text[i:j])
        name = text[j + 2:k].strip()
        if "." in name:
            coll, _, key = name.partition(".")
            parts.append((coll.upper(), key))
        elif ":" in name:
            coll, _, key = name.partition(":")
            parts.append((coll.upper(), key))
        else:
            parts.append((name.upper(), None))
        i = k + 1
    return Template(tuple(parts))


def expand(text: str, resolve: Callable[[str, str | None], str | None]) -> str:
    """Expand every macro of ``text`` with ``resolve(VARIABLE, key)``."""
    if "%{" not in text:
        return text
    return compile_template(text).render(resolve)
