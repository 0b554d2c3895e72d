"""Compile WAFv2 rules (as ``aws wafv2 get-web-acl`` prints them) into the frozen model.

Every object is read through ``Node`` so that a field Bastion does not read is reported with its
JSON path; nothing is dropped silently. The pieces live in ``compile_base`` (environment,
actions, transformations) and ``compile_statements``; this module compiles rules.
"""

from __future__ import annotations

from bastion.waf.webacl.compile_base import (
    LABEL_RE,
    METRIC_RE,
    NAME_RE,
    TOP_ONLY,
    Env,
    ManagedGroup,
    compile_action,
    compile_bodies,
    compile_regex,
)
from bastion.waf.webacl.compile_statements import compile_statement
from bastion.waf.webacl.jsonnode import Node
from bastion.waf.webacl.model import (
    GroupRef,
    Rule,
)

__all__ = [
    "Env",
    "ManagedGroup",
    "compile_action",
    "compile_bodies",
    "compile_regex",
    "compile_rules",
    "compile_statement",
    "compile_visibility",
    "immunity",
]

# -- rules ------------------------------------------------------------------------------------


def compile_visibility(node: Node | None) -> str:
    if node is None:
        return ""
    node.get("SampledRequestsEnabled", bool, required=True)
    node.get("CloudWatchMetricsEnabled", bool, required=True)
    metric = node.get("MetricName", str, required=True) or ""
    node.finish()
    if metric and (not METRIC_RE.match(metric) or len(metric) > 255):
        node.issues.error(node.at("MetricName"), f"{metric!r} is not a valid metric name")
    if metric in ("All", "Default_Action"):
        node.issues.error(node.at("MetricName"), f"{metric!r} is reserved")
    return metric


def immunity(node: Node, key: str, default: int) -> int:
    cfg = node.obj(key)
    if cfg is None:
        return default
    prop = cfg.obj("ImmunityTimeProperty")
    cfg.finish()
    if prop is None:
        return default
    val = prop.int_in("ImmunityTime", 60, 259200, required=True, default=default)
    prop.finish()
    return val if val is not None else default


def label_name(name: str, namespace: str) -> str:
    return name if name.startswith("awswaf:") else namespace + name


def compile_rules(nodes: list[Node], env: Env) -> tuple[Rule, ...]:
    rules: list[Rule] = []
    prios: dict[int, str] = {}
    names: set[str] = set()
    for n in nodes:
        r = _rule(n, env)
        if r is None:
            continue
        if r.priority in prios:
            n.issues.error(n.at("Priority"), f"priority {r.priority} is also used by "
                           f"{prios[r.priority]!r}")
        if r.name in names:
            n.issues.error(n.at("Name"), f"duplicate rule name {r.name!r}")
        prios[r.priority] = r.name
        names.add(r.name)
        rules.append(r)
    return tuple(sorted(rules, key=lambda r: r.priority))


def _rule(n: Node, env: Env) -> Rule | None:
    name = n.get("Name", str, required=True)
    prio = n.int_in("Priority", 0, None, required=True)
    if name is not None and not NAME_RE.match(name):
        n.issues.error(n.at("Name"), f"{name!r} is not a valid rule name")
    st_node = n.obj("Statement", required=True)
    body = compile_statement(st_node, env, top=True) if st_node is not None else None
    action = None
    override_count = False
    is_group = isinstance(body, GroupRef) or (
        st_node is not None and any(st_node.has(k) for k in TOP_ONLY[1:]))
    a = n.obj("Action")
    o = n.obj("OverrideAction")
    if is_group:
        if a is not None:
            n.issues.error(n.at("Action"), "a rule-group reference takes OverrideAction")
        if o is None:
            n.issues.error(n.at("OverrideAction"), "a rule-group reference needs OverrideAction")
        else:
            which = o.one_of(("Count", "None"))
            override_count = which == "Count"
            if which:
                o.obj(which)
            o.finish()
    else:
        if o is not None:
            n.issues.error(n.at("OverrideAction"), "only rule-group references take "
                           "OverrideAction")
        if a is None:
            n.issues.error(n.at("Action"), "required field is missing")
        else:
            action = compile_action(a, env)
    labels: list[str] = []
    for lab in n.objs("RuleLabels"):
        ln = lab.get("Name", str, required=True)
        lab.finish()
        if ln is None:
            continue
        if not LABEL_RE.match(ln):
            lab.issues.error(lab.at("Name"), f"{ln!r} is not a valid label")
        labels.append(label_name(ln, env.namespace))
    metric = compile_visibility(n.obj("VisibilityConfig", required=True))
    cap = immunity(n, "CaptchaConfig", env.captcha_immunity)
    chal = immunity(n, "ChallengeConfig", env.challenge_immunity)
    n.finish()
    if name is None or prio is None or body is None:
        return None
    if not is_group and action is None:
        return None
    return Rule(name, prio, body, action, override_count, tuple(labels), metric or name,
                cap, chal)
