"""Condition operators: one registry of families, compiled once per policy value.

A condition is ``{"<qualifier:>Operator<IfExists>": {"key": value | [values]}}``. Rules
(IAM:reference_policies_elements_condition_operators, ..._multi-value-conditions):

* several operators or keys: AND; several values for one key: OR — for a negated operator
  (``StringNotEquals``, ``NotIpAddress``, ``ArnNotLike``...) none of the values may match;
* key absent: positive operators are false, negated ones true, ``...IfExists`` true,
  ``ForAllValues:`` true, ``ForAnyValue:`` false; ``Null`` tests presence itself;
* ``ForAllValues:`` every request value must match; ``ForAnyValue:`` at least one must;
* policy variables are expanded for String*, Arn* and Bool values only.

Unknown operators and unparsable values are load-time errors, never a silent allow.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import operator as op
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ._patterns import compile_glob, glob_regex
from .arn import arn_matches
from .context import RequestContext
from .variables import Template, parse_template

__all__ = ["OPERATORS", "Condition", "compile_condition", "operator_names"]

Compare = Callable[[Any, Any], bool]
_CMP: dict[str, Compare] = {
    "Equals": op.eq, "LessThan": op.lt, "LessThanEquals": op.le,
    "GreaterThan": op.gt, "GreaterThanEquals": op.ge,
}


class _Family(ABC):
    """How one operator family prepares policy values and tests a request value."""

    variables = False

    def prepare(self, raw: str, template: Template) -> object:
        return raw

    @abstractmethod
    def test(self, request_value: str, prepared: object, ctx: RequestContext) -> bool:
        """Whether ``request_value`` satisfies one prepared policy value."""


class _StringExact(_Family):
    variables = True

    def __init__(self, ignore_case: bool) -> None:
        self.ignore_case = ignore_case

    def prepare(self, raw: str, template: Template) -> object:
        return template

    def test(self, request_value: str, prepared: object, ctx: RequestContext) -> bool:
        assert isinstance(prepared, Template)
        text = prepared.render_text(ctx.values)
        if text is None:
            return False
        if self.ignore_case:
            return text.casefold() == request_value.casefold()
        return text == request_value


class _StringLike(_Family):
    variables = True

    def prepare(self, raw: str, template: Template) -> object:
        return template

    def test(self, request_value: str, prepared: object, ctx: RequestContext) -> bool:
        assert isinstance(prepared, Template)
        if prepared.is_plain:
            return compile_glob(prepared.source).match(request_value)
        pieces = prepared.render(ctx.values)
        return pieces is not None and glob_regex(pieces).match(request_value)


class _Arn(_Family):
    variables = True

    def prepare(self, raw: str, template: Template) -> object:
        return template

    def test(self, request_value: str, prepared: object, ctx: RequestContext) -> bool:
        assert isinstance(prepared, Template)
        pieces = prepared.render(ctx.values)
        return pieces is not None and arn_matches(pieces, request_value)


def _decimal(text: str) -> Decimal | None:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


class _Numeric(_Family):
    def __init__(self, compare: Compare) -> None:
        self.compare = compare

    def prepare(self, raw: str, template: Template) -> object:
        value = _decimal(raw)
        if value is None:
            raise ValueError(f"not a number: {raw!r}")
        return value

    def test(self, request_value: str, prepared: object, ctx: RequestContext) -> bool:
        value = _decimal(request_value)
        return value is not None and self.compare(value, prepared)


_EPOCH = re.compile(r"^-?\d+(\.\d+)?$")


def parse_date(text: str) -> float | None:
    """ISO 8601 (W3C profile: date, date-time, ``Z`` or offset) or epoch seconds."""
    text = text.strip()
    if _EPOCH.match(text):
        return float(text)
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


class _Date(_Family):
    def __init__(self, compare: Compare) -> None:
        self.compare = compare

    def prepare(self, raw: str, template: Template) -> object:
        value = parse_date(raw)
        if value is None:
            raise ValueError(f"not an ISO 8601 date or epoch time: {raw!r}")
        return value

    def test(self, request_value: str, prepared: object, ctx: RequestContext) -> bool:
        value = parse_date(request_value)
        return value is not None and self.compare(value, prepared)


class _Bool(_Family):
    variables = True

    def prepare(self, raw: str, template: Template) -> object:
        if template.has_variables:
            return template
        if raw.lower() not in ("true", "false"):
            raise ValueError(f"Bool takes 'true' or 'false', not {raw!r}")
        return raw.lower()

    def test(self, request_value: str, prepared: object, ctx: RequestContext) -> bool:
        want = prepared.render_text(ctx.values) if isinstance(prepared, Template) else prepared
        return want is not None and request_value.lower() == str(want).lower()


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


class _Binary(_Family):
    def prepare(self, raw: str, template: Template) -> object:
        value = _b64(raw)
        if value is None:
            raise ValueError(f"not base64: {raw!r}")
        return value

    def test(self, request_value: str, prepared: object, ctx: RequestContext) -> bool:
        return _b64(request_value) == prepared


class _Ip(_Family):
    def prepare(self, raw: str, template: Template) -> object:
        try:
            return ipaddress.ip_network(raw.strip(), strict=False)
        except ValueError as exc:
            raise ValueError(f"not an IP address or CIDR: {raw!r}") from exc

    def test(self, request_value: str, prepared: object, ctx: RequestContext) -> bool:
        assert isinstance(prepared, ipaddress.IPv4Network | ipaddress.IPv6Network)
        try:
            addr = ipaddress.ip_address(request_value.strip())
        except ValueError:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            mapped: ipaddress.IPv4Address | ipaddress.IPv6Address = addr.ipv4_mapped
            if mapped.version == prepared.version and mapped in prepared:
                return True
        return addr.version == prepared.version and addr in prepared


@dataclass(frozen=True, slots=True)
class OperatorSpec:
    """A base operator: its family, whether it is negated, and its family name for docs."""

    name: str
    family: _Family
    negated: bool
    kind: str


def _registry() -> dict[str, OperatorSpec]:
    reg: dict[str, OperatorSpec] = {}

    def add(name: str, family: _Family, negated: bool, kind: str) -> None:
        reg[name] = OperatorSpec(name, family, negated, kind)

    add("StringEquals", _StringExact(False), False, "String")
    add("StringNotEquals", _StringExact(False), True, "String")
    add("StringEqualsIgnoreCase", _StringExact(True), False, "String")
    add("StringNotEqualsIgnoreCase", _StringExact(True), True, "String")
    add("StringLike", _StringLike(), False, "String")
    add("StringNotLike", _StringLike(), True, "String")
    for suffix, compare in _CMP.items():
        add(f"Numeric{suffix}", _Numeric(compare), False, "Numeric")
        add(f"Date{suffix}", _Date(compare), False, "Date")
    add("NumericNotEquals", _Numeric(op.eq), True, "Numeric")
    add("DateNotEquals", _Date(op.eq), True, "Date")
    add("Bool", _Bool(), False, "Bool")
    add("BinaryEquals", _Binary(), False, "Binary")
    add("IpAddress", _Ip(), False, "IP")
    add("NotIpAddress", _Ip(), True, "IP")
    add("ArnEquals", _Arn(), False, "Arn")
    add("ArnLike", _Arn(), False, "Arn")
    add("ArnNotEquals", _Arn(), True, "Arn")
    add("ArnNotLike", _Arn(), True, "Arn")
    return reg


OPERATORS: Mapping[str, OperatorSpec] = _registry()
_QUALIFIERS = ("ForAllValues", "ForAnyValue")


def operator_names() -> list[str]:
    """Every accepted base operator name (plus ``Null``), sorted."""
    return sorted([*OPERATORS, "Null"])


@dataclass(frozen=True, slots=True)
class Condition:
    """One (operator, key, values) triple, compiled."""

    operator: str  # as written, e.g. "ForAnyValue:StringLikeIfExists"
    key: str  # as written
    raw_values: tuple[str, ...]
    spec: OperatorSpec | None  # None for Null
    qualifier: str | None
    if_exists: bool
    prepared: tuple[object, ...]

    def _request_values(self, ctx: RequestContext) -> tuple[str, ...] | None:
        return ctx.get(self.key)

    def evaluate(self, ctx: RequestContext) -> bool:
        found = self._request_values(ctx)
        if self.spec is None:  # Null
            return any((v.lower() == "true") == (found is None) for v in self.raw_values)
        if found is None:
            if self.if_exists or self.qualifier == "ForAllValues":
                return True
            if self.qualifier == "ForAnyValue":
                return False
            return self.spec.negated
        family = self.spec.family

        def positive(r: str) -> bool:
            return any(family.test(r, p, ctx) for p in self.prepared)

        if self.qualifier == "ForAllValues":
            return all(positive(r) != self.spec.negated for r in found)
        if self.qualifier == "ForAnyValue":
            return any(positive(r) != self.spec.negated for r in found)
        hit = any(positive(r) for r in found)
        return not hit if self.spec.negated else hit

    def describe(self, ctx: RequestContext) -> str:
        """Why this condition is what it is, for a decision's explanation."""
        found = self._request_values(ctx)
        got = "absent" if found is None else ", ".join(repr(v) for v in found)
        want = ", ".join(repr(v) for v in self.raw_values)
        return f"{self.operator} {self.key}: request value {got}; policy value(s) {want}"


def _value_strings(key: str, raw: object) -> tuple[str, ...]:
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        raise ValueError(f"condition key {key!r} has an empty value list")
    out: list[str] = []
    for item in items:
        if isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, int | float):
            out.append(str(item))
        elif isinstance(item, str):
            out.append(item)
        else:
            raise ValueError(f"condition key {key!r} has a value that is not a string, number "
                             f"or boolean: {item!r}")
    return tuple(out)


def compile_condition(
    operator_text: str, key: str, raw: object, *, variables: bool
) -> Condition:
    """Compile one condition; raises ValueError with a precise message when invalid."""
    name = operator_text
    qualifier = None
    if ":" in name:
        qualifier, _, name = name.partition(":")
        if qualifier not in _QUALIFIERS:
            raise ValueError(f"unknown condition set operator {qualifier!r} in {operator_text!r}")
    if_exists = name.endswith("IfExists")
    base = name[: -len("IfExists")] if if_exists else name
    values = _value_strings(key, raw)
    if not isinstance(key, str) or not key:
        raise ValueError(f"invalid condition key {key!r}")
    if base == "Null":
        if if_exists or qualifier:
            raise ValueError(f"{operator_text!r}: Null takes neither IfExists nor a set operator")
        for v in values:
            if v.lower() not in ("true", "false"):
                raise ValueError(f"Null takes 'true' or 'false', not {v!r}")
        return Condition(operator_text, key, values, None, None, False, ())
    spec = OPERATORS.get(base)
    if spec is None:
        raise ValueError(f"unknown condition operator {operator_text!r}")
    prepared: list[object] = []
    for v in values:
        template = parse_template(v, variables=variables and spec.family.variables)
        prepared.append(spec.family.prepare(v, template))
    return Condition(operator_text, key, values, spec, qualifier, if_exists, tuple(prepared))
