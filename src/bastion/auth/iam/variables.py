"""Policy variables: ``${aws:username}``, ``${aws:PrincipalTag/team, 'default'}``, ``${*}``...

Only a policy with ``"Version": "2012-10-17"`` substitutes; older versions keep ``${...}`` as
literal text (IAM:reference_policies_variables). A template is parsed once at policy load into
pieces; ``render`` resolves it against a request context:

* ``${*}``, ``${?}``, ``${$}`` are the literal characters (never wildcards);
* a variable's value is inserted literally (never a wildcard);
* a missing key with no default makes the whole value unresolvable (``None``): it then matches
  nothing, so a negated operator is satisfied — AWS's "null" rule.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ._patterns import Piece

__all__ = ["Template", "parse_template"]

_VAR = re.compile(r"\$\{([^}]*)\}")
_DEFAULT = re.compile(r"^\s*([^,\s][^,]*?)\s*,\s*'([^']*)'\s*$")
_SPECIAL = {"*": "*", "?": "?", "$": "$"}


@dataclass(frozen=True, slots=True)
class _Var:
    key: str  # lower-case
    default: str | None


@dataclass(frozen=True, slots=True)
class Template:
    """A policy string: literal/wildcard text interleaved with variables."""

    source: str
    parts: tuple[str | _Var | tuple[str], ...]  # str: pattern text; (str,): literal char

    @property
    def has_variables(self) -> bool:
        return any(isinstance(p, _Var) for p in self.parts)

    @property
    def is_plain(self) -> bool:
        return all(isinstance(p, str) for p in self.parts)

    def render(self, values: Mapping[str, tuple[str, ...]]) -> list[Piece] | None:
        """Pieces with variables substituted, or None when a variable cannot be resolved."""
        out: list[Piece] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append((part, False))
            elif isinstance(part, tuple):
                out.append((part[0], True))
            else:
                found = values.get(part.key)
                if found is not None and len(found) == 1:
                    out.append((found[0], True))
                elif part.default is not None:
                    out.append((part.default, True))
                else:
                    return None
        return out

    def render_text(self, values: Mapping[str, tuple[str, ...]]) -> str | None:
        pieces = self.render(values)
        return None if pieces is None else "".join(t for t, _ in pieces)


def parse_template(text: str, *, variables: bool) -> Template:
    """Parse ``text``; with ``variables=False`` (old policy versions) it is all literal-pattern."""
    if not variables or "${" not in text:
        return Template(text, (text,))
    parts: list[str | _Var | tuple[str]] = []
    pos = 0
    for m in _VAR.finditer(text):
        if m.start() > pos:
            parts.append(text[pos:m.start()])
        inner = m.group(1)
        if inner in _SPECIAL:
            parts.append((_SPECIAL[inner],))
        else:
            dm = _DEFAULT.match(inner)
            if dm:
                parts.append(_Var(dm.group(1).strip().lower(), dm.group(2)))
            else:
                parts.append(_Var(inner.strip().lower(), None))
        pos = m.end()
    if pos < len(text):
        parts.append(text[pos:])
    return Template(text, tuple(parts))
