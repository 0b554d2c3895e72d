"""The compiled rule model: immutable objects the transaction loop walks.

A ``Rule`` is one SecRule/SecAction/SecMarker with its default actions already merged in; a
chain is a starter whose ``chain`` field points at the next link. Nothing here changes after
the configuration is loaded (config-time edits such as SecRuleUpdateTargetById build a new
object with ``dataclasses.replace``), so one ruleset is shared by every transaction.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "Action",
    "OperatorLike",
    "OperatorSpec",
    "Rule",
    "Target",
    "Transformation",
]

Transformation = Callable[[str], str]


class OperatorLike(Protocol):
    """What the engine needs from an operator built by the operator registry."""

    def evaluate(self, tx: object, value: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class Target:
    """One entry of a rule's variable list, e.g. ``!REQUEST_COOKIES:/__utm/`` or ``&ARGS``."""

    name: str
    key: str | None = None
    key_regex: re.Pattern[str] | None = field(default=None, compare=False)
    negated: bool = False
    count: bool = False

    def matches_key(self, key: str) -> bool:
        """Whether a collection key is selected by this target's key or key regex."""
        if self.key_regex is not None:
            return self.key_regex.search(key) is not None
        if self.key is None:
            return True
        return self.key.lower() == key.lower()

    def render(self) -> str:
        prefix = "!" if self.negated else "&" if self.count else ""
        if self.key_regex is not None:
            return f"{prefix}{self.name}:/{self.key_regex.pattern}/"
        if self.key is not None:
            return f"{prefix}{self.name}:{self.key}"
        return f"{prefix}{self.name}"


@dataclass(frozen=True, slots=True)
class Action:
    """One ``name:argument`` item of an action list; names are lower case."""

    name: str
    arg: str | None = None


@dataclass(frozen=True, slots=True)
class OperatorSpec:
    """The operator as written (``!@rx foo``) and the object that evaluates it."""

    name: str
    param: str
    negated: bool
    impl: OperatorLike | None = field(default=None, compare=False, repr=False)

    @property
    def regex_source(self) -> str | None:
        """The static PCRE pattern of an ``@rx`` operator, for the Hyperscan prefilter."""
        if self.name != "rx" or getattr(self.impl, "dynamic", False):
            return None
        src = getattr(self.impl, "regex_source", None)
        return src if isinstance(src, str) and "%{" not in src else None


@dataclass(frozen=True, slots=True)
class Rule:
    """A compiled rule (or chain link, SecAction or SecMarker)."""

    id: int
    phase: int
    file: str
    line: int
    targets: tuple[Target, ...] = ()
    operator: OperatorSpec | None = None  # None: SecAction (always matches once)
    transformations: tuple[str, ...] = ()
    tfn_impls: tuple[Transformation, ...] = field(default=(), compare=False, repr=False)
    actions: tuple[Action, ...] = ()  # non-disruptive actions, in order
    disruptive: str | None = None  # deny drop pass block allow redirect
    disruptive_arg: str | None = None
    default_disruptive: str = "pass"  # what ``block`` means in this rule's phase
    log: bool = True
    auditlog: bool = True
    capture: bool = False
    multi_match: bool = False
    msg: str | None = None
    logdata: str | None = None
    severity: int | None = None
    tags: tuple[str, ...] = ()
    ver: str | None = None
    rev: str | None = None
    maturity: str | None = None
    accuracy: str | None = None
    status: int | None = None
    skip_after: str | None = None
    skip: int = 0
    chain: Rule | None = None
    marker: str | None = None
    is_link: bool = False

    @property
    def links(self) -> tuple[Rule, ...]:
        """The starter followed by every chained link."""
        out: list[Rule] = [self]
        cur = self.chain
        while cur is not None:
            out.append(cur)
            cur = cur.chain
        return tuple(out)

    @property
    def effective_disruptive(self) -> str:
        d = self.disruptive or self.default_disruptive
        return self.default_disruptive if d == "block" else d
