"""Non-disruptive actions: setvar, expirevar, initcol and ctl.

They run once per matched value, at the moment the rule link matches (crs-engine §4.4), which
is what makes CRS's per-argument anomaly scores add up.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, NoReturn

from bastion.waf.seclang.rules import Action, Rule
from bastion.waf.seclang.syntax import SyntaxProblem, parse_target

if TYPE_CHECKING:
    from bastion.waf.seclang.transaction import Transaction

__all__ = ["ActionFn", "atoi", "compile_action", "compile_actions"]

ActionFn = Callable[["Transaction"], None]

_INT = re.compile(r"\s*([+-]?\d+)")


def atoi(s: str | None) -> int:
    """C ``atoi``: leading blanks, optional sign, digits; anything else is 0."""
    if not s:
        return 0
    if len(s) < 10 and s.isascii() and s.isdigit():
        return int(s)
    m = _INT.match(s)
    return int(m.group(1)) if m else 0


def _var(spec: str) -> Callable[[Transaction], tuple[str, str]]:
    """``collection.key`` (macros allowed) -> (COLLECTION, key), parsed once when static."""
    spec = spec.strip()
    if "%{" in spec:
        name_of = _text(spec)
        return lambda tx: _split(name_of(tx))
    try:
        parts = _split(spec)
    except ValueError as exc:
        return _raises(exc)
    return lambda tx: parts


def _raises(problem: Exception) -> Callable[[Transaction], NoReturn]:
    """A bad argument found at load raises when the action runs, as it did when parsed then."""
    def fails(tx: Transaction) -> NoReturn:
        raise problem
    return fails


def _split(name: str) -> tuple[str, str]:
    coll, dot, key = name.partition(".")
    if not dot:
        raise ValueError(f"variable {name!r} has no collection")
    return coll.upper(), key


def _text(template: str) -> Callable[[Transaction], str]:
    """A macro template as a function of the transaction (``Transaction.expand``)."""
    from bastion.waf.seclang.transaction import expander  # it imports this module

    return expander(template)


@lru_cache(maxsize=4096)
def _parse_setvar(arg: str) -> tuple[str, str, str | None]:
    """``setvar`` text -> (kind, name, value): kind "!" delete, "1" no value, "+"/"-" add,
    "=" assign."""
    arg = arg.strip()
    if arg.startswith("!"):
        return "!", arg[1:].strip(), None
    name, eq, value = arg.partition("=")
    if not eq:
        return "1", name.strip(), None
    if value.startswith("+") or value.startswith("-"):
        return value[0], name.strip(), value[1:]
    return "=", name.strip(), value


def setvar(arg: str) -> ActionFn:
    kind, name, value = _parse_setvar(arg)
    var = _var(name)
    if kind == "!":
        def delete(tx: Transaction) -> None:
            coll_name, key = var(tx)
            coll = tx.collection(coll_name)
            if coll is not None:
                coll.delete(key)
        return delete
    text = _text("1" if kind == "1" else value or "")
    if kind in ("=", "1"):
        def assign(tx: Transaction) -> None:
            coll_name, key = var(tx)
            coll = tx.collection(coll_name)
            if coll is not None:
                coll.set(key, text(tx))
        return assign
    sign = 1 if kind == "+" else -1

    def add(tx: Transaction) -> None:
        coll_name, key = var(tx)
        coll = tx.collection(coll_name)
        if coll is not None:
            delta = atoi(text(tx))
            coll.set(key, str(atoi(coll.get(key)) + sign * delta))
    return add


def expirevar(arg: str) -> ActionFn:
    name, _, seconds = arg.partition("=")
    var = _var(name)
    text = _text(seconds)

    def expire(tx: Transaction) -> None:
        coll_name, key = var(tx)
        coll = tx.collection(coll_name)
        if coll is not None:
            coll.expire(key, tx.clock.time() + atoi(text(tx)))
    return expire


def initcol(collection: str, key: str) -> ActionFn:
    text = _text(key)
    return lambda tx: tx.init_collection(collection, text(tx))


def _ctl_target(value: str) -> tuple[str, str]:
    sel, _, target = value.partition(";")
    return sel.strip(), target.strip()


def ctl(arg: str) -> ActionFn:
    name, _, value = arg.partition("=")
    key = name.strip().lower()
    value = value.strip()
    change = _ctl(key, value)
    changes = _CHANGES.get(key)
    if changes is not None:
        def variables(tx: Transaction) -> None:
            before = (tx.body_processor, tx.force_request_body_variable)
            change(tx)
            if (tx.body_processor, tx.force_request_body_variable) != before:
                tx.variables_changed(changes)
        return variables

    def rules(tx: Transaction) -> None:
        change(tx)
        tx.rules_changed()   # rules removed, targets excluded, engine mode...
    return rules


#: The variables whose values a body-processing ``ctl`` can change.
_CHANGES = {
    "requestbodyprocessor": frozenset({"REQBODY_PROCESSOR", "REQUEST_BODY"}),
    "forcerequestbodyvariable": frozenset({"REQUEST_BODY"}),
}


def _ctl(key: str, value: str) -> ActionFn:
    """What ``ctl:key=value`` does to the transaction (parsed once)."""
    if key == "ruleengine":
        mode = {"on": "On", "off": "Off", "detectiononly": "DetectionOnly"}.get(value.lower())
        return _nothing if mode is None else _assign("engine_mode", mode)
    if key == "ruleremovebyid":
        return lambda tx: tx.remove_ids(value)
    if key in ("ruleremovebytag", "ruleremovebymsg"):
        try:
            pattern = re.compile(value)
        except re.error as exc:
            return _raises(exc)
        removed = "removed_tags" if key == "ruleremovebytag" else "removed_msgs"
        return lambda tx: getattr(tx, removed).append(pattern)
    if key in ("ruleremovetargetbyid", "ruleremovetargetbytag", "ruleremovetargetbymsg"):
        sel, target_text = _ctl_target(value)
        tname, _, tkey = target_text.partition(":")
        try:
            target = parse_target(tname, tkey if tkey else None)
        except SyntaxProblem:
            return _nothing
        by = key[len("ruleremovetargetby"):]
        return lambda tx: tx.add_target_exclusion(by, sel, target)
    setting = _SETTINGS.get(key)
    if setting is not None:
        attribute, parse = setting
        return _assign(attribute, parse(value))
    # auditEngine, auditLogParts, debugLogLevel...: accepted, nothing to do in-process
    return _nothing


def _nothing(tx: Transaction) -> None:
    return None


def _assign(attribute: str, value: object) -> ActionFn:
    return lambda tx: setattr(tx, attribute, value)


#: ``ctl`` settings that set one attribute of the transaction: (attribute, value parser).
_SETTINGS: dict[str, tuple[str, Callable[[str], object]]] = {
    "requestbodyprocessor": ("body_processor", str.upper),
    "forcerequestbodyvariable": ("force_request_body_variable", lambda v: v.lower() == "on"),
    "requestbodyaccess": ("request_body_access", lambda v: v.lower() == "on"),
    "requestbodylimit": ("request_body_limit", atoi),
    "responsebodyaccess": ("response_body_access", lambda v: v.lower() == "on"),
}


def compile_action(action: Action) -> ActionFn | None:
    """``action`` as a function of the transaction, parsed once when the rules load (None:
    an action without effect in-process, such as sanitise*, exec or append)."""
    arg = action.arg or ""
    name = action.name
    if name == "setvar":
        return setvar(arg)
    if name == "ctl":
        return ctl(arg)
    if name == "expirevar":
        return expirevar(arg)
    if name == "initcol":
        coll, _, key = arg.partition("=")
        return initcol(coll.strip().upper(), key.strip())
    if name in ("setsid", "setuid"):
        return initcol("SESSION" if name == "setsid" else "USER", arg)
    return None


def compile_actions(rule: Rule) -> tuple[ActionFn, ...]:
    """A rule link's effective actions, in order."""
    return tuple(fn for fn in map(compile_action, rule.actions) if fn is not None)
