"""Non-disruptive actions: setvar, expirevar, initcol and ctl.

They run once per matched value, at the moment the rule link matches (crs-engine §4.4), which
is what makes CRS's per-argument anomaly scores add up.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

from bastion.waf.seclang.rules import Action, Rule
from bastion.waf.seclang.syntax import SyntaxProblem, parse_target

if TYPE_CHECKING:
    from bastion.waf.seclang.transaction import Transaction

__all__ = ["run_action"]

_INT = re.compile(r"\s*([+-]?\d+)")


def atoi(s: str | None) -> int:
    """C ``atoi``: leading blanks, optional sign, digits; anything else is 0."""
    if not s:
        return 0
    if len(s) < 10 and s.isascii() and s.isdigit():
        return int(s)
    m = _INT.match(s)
    return int(m.group(1)) if m else 0


def _split_var(tx: Transaction, spec: str) -> tuple[str, str]:
    name = tx.expand(spec.strip()) if "%{" in spec else spec.strip()
    coll, dot, key = name.partition(".")
    if not dot:
        raise ValueError(f"variable {name!r} has no collection")
    return coll.upper(), key


@lru_cache(maxsize=4096)
def _parse_setvar(arg: str) -> tuple[str, str, str | None]:
    """``setvar`` text -> (kind, name, value): kind "!" delete, "1" no value, "+"/"-" add,
    "=" assign (parsed once per distinct text; macros are expanded per call)."""
    arg = arg.strip()
    if arg.startswith("!"):
        return "!", arg[1:].strip(), None
    name, eq, value = arg.partition("=")
    if not eq:
        return "1", name.strip(), None
    if value.startswith("+") or value.startswith("-"):
        return value[0], name.strip(), value[1:]
    return "=", name.strip(), value


def setvar(tx: Transaction, arg: str) -> None:
    kind, name, value = _parse_setvar(arg)
    coll_name, key = _split_var(tx, name)
    coll = tx.collection(coll_name)
    if coll is None:
        return
    if kind == "!":
        coll.delete(key)
    elif kind == "1":
        coll.set(key, "1")
    elif kind == "=":
        coll.set(key, tx.expand(value or ""))
    else:
        delta = atoi(tx.expand(value or ""))
        cur = atoi(coll.get(key))
        coll.set(key, str(cur + delta if kind == "+" else cur - delta))


def expirevar(tx: Transaction, arg: str) -> None:
    name, _, seconds = arg.partition("=")
    coll_name, key = _split_var(tx, name)
    coll = tx.collection(coll_name)
    if coll is not None:
        coll.expire(key, tx.clock.time() + atoi(tx.expand(seconds)))


def initcol(tx: Transaction, arg: str) -> None:
    name, _, key = arg.partition("=")
    tx.init_collection(name.strip().upper(), tx.expand(key.strip()))


def _ctl_target(value: str) -> tuple[str, str]:
    sel, _, target = value.partition(";")
    return sel.strip(), target.strip()


def ctl(tx: Transaction, arg: str) -> None:
    name, _, value = arg.partition("=")
    key = name.strip().lower()
    value = value.strip()
    before = (tx.body_processor, tx.force_request_body_variable)
    _ctl(tx, key, value)
    if (tx.body_processor, tx.force_request_body_variable) != before:
        tx.variables_changed()  # what REQUEST_BODY / REQBODY_PROCESSOR yield changed
    else:
        tx.rules_changed()  # rules removed, targets excluded, engine mode...


def _ctl(tx: Transaction, key: str, value: str) -> None:
    if key == "ruleengine":
        mode = {"on": "On", "off": "Off", "detectiononly": "DetectionOnly"}.get(value.lower())
        if mode is not None:
            tx.engine_mode = mode
    elif key == "ruleremovebyid":
        tx.remove_ids(value)
    elif key == "ruleremovebytag":
        tx.removed_tags.append(re.compile(value))
    elif key == "ruleremovebymsg":
        tx.removed_msgs.append(re.compile(value))
    elif key in ("ruleremovetargetbyid", "ruleremovetargetbytag", "ruleremovetargetbymsg"):
        sel, target_text = _ctl_target(value)
        tname, _, tkey = target_text.partition(":")
        try:
            target = parse_target(tname, tkey if tkey else None)
        except SyntaxProblem:
            return
        tx.add_target_exclusion(key[len("ruleremovetargetby"):], sel, target)
    elif key == "requestbodyprocessor":
        tx.body_processor = value.upper()
    elif key == "forcerequestbodyvariable":
        tx.force_request_body_variable = value.lower() == "on"
    elif key == "requestbodyaccess":
        tx.request_body_access = value.lower() == "on"
    elif key == "requestbodylimit":
        tx.request_body_limit = atoi(value)
    elif key == "responsebodyaccess":
        tx.response_body_access = value.lower() == "on"
    # auditEngine, auditLogParts, debugLogLevel...: accepted, nothing to do in-process


def run_action(tx: Transaction, rule: Rule, action: Action) -> None:
    arg = action.arg or ""
    name = action.name
    if name == "setvar":
        setvar(tx, arg)
    elif name == "ctl":
        ctl(tx, arg)
    elif name == "expirevar":
        expirevar(tx, arg)
    elif name == "initcol":
        initcol(tx, arg)
    elif name in ("setsid", "setuid"):
        tx.init_collection("SESSION" if name == "setsid" else "USER", tx.expand(arg))
    # other non-disruptive actions (sanitise*, exec, append...) have no effect in-process
