"""AWS WAF's logging configuration: which WAF records are kept, and which fields are redacted.

``logging.waf_logging_configuration`` in bastion.yaml names a file holding what
``aws wafv2 get-logging-configuration`` prints (or the bare ``LoggingConfiguration`` object)::

    {"LoggingConfiguration": {
        "ResourceArn": "...", "LogDestinationConfigs": ["..."],
        "RedactedFields": [{"SingleHeader": {"Name": "x-session"}}, {"QueryString": {}}],
        "LoggingFilter": {"DefaultBehavior": "DROP", "Filters": [
            {"Behavior": "KEEP", "Requirement": "MEETS_ANY", "Conditions": [
                {"ActionCondition": {"Action": "BLOCK"}},
                {"LabelNameCondition": {"LabelName": "bastion:suspect"}}]}]}}}

``RedactedFields`` add to the redaction Bastion always applies. ``LoggingFilter`` decides per
record: the first filter whose ``Requirement`` the record meets (``MEETS_ALL`` of its
conditions, or ``MEETS_ANY``) applies its ``Behavior``; a record no filter matches gets
``DefaultBehavior``. The API reference does not spell out the order between filters that
disagree; first match is Bastion's reading, as for rules. Destinations, ``ResourceArn`` and the
other AWS-side fields are accepted and not used (the writer's files are the destination).

What a record "contains" for an ``ActionCondition``, as the API reference defines it: the
action AWS WAF applied (``ALLOW``, ``BLOCK``, ``CAPTCHA``, ``CHALLENGE``), the action of each
non-terminating match (``COUNT``, including a whole rule group overridden to Count at the web
ACL), and ``EXCLUDED_AS_COUNT`` for a rule group's excluded rules and for its rules whose
action an override turned into Count. A ``LabelNameCondition`` needs the exact label name.

The filter runs in the log writer's thread on the values the request path captured, before the
record is serialised: a dropped record costs a few set lookups, and counts in
``WriterStats.filtered``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bastion.observe.redact import Redactor

__all__ = ["LoggingFilter", "WafLoggingConfiguration", "record_actions"]

_ACTIONS = frozenset({"ALLOW", "BLOCK", "COUNT", "CAPTCHA", "CHALLENGE", "EXCLUDED_AS_COUNT"})
_BEHAVIORS = ("KEEP", "DROP")
_REQUIREMENTS = ("MEETS_ALL", "MEETS_ANY")
# fields of a LoggingConfiguration that only matter to AWS (where logs go, who manages them)
_AWS_SIDE = frozenset({"ResourceArn", "LogDestinationConfigs", "ManagedByFirewallManager",
                       "LogType", "LogScope"})


def record_actions(waf_log: Mapping[str, Any]) -> frozenset[str]:
    """The actions a WAF record contains, for ``ActionCondition`` (see the module docstring);
    ``waf_log`` is the keyword form ``WafLogBuilder.build`` takes (``ex.notes["waf_log"]``)."""
    found = {str(waf_log.get("action", "ALLOW"))}
    for rule in waf_log.get("non_terminating") or ():
        found.add(str(rule.get("action")))
    for group in waf_log.get("rule_groups") or ():
        for rule in group.get("nonTerminatingMatchingRules") or ():
            found.add("EXCLUDED_AS_COUNT" if rule.get("overriddenAction")
                      else str(rule.get("action")))
        if group.get("excludedRules"):
            found.add("EXCLUDED_AS_COUNT")
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class _Filter:
    keep: bool
    all_of: bool
    actions: frozenset[str]
    labels: frozenset[str]
    conditions: int

    def matches(self, actions: frozenset[str], labels: Sequence[str]) -> bool:
        hits = len(self.actions & actions) + (
            sum(1 for x in set(labels) if x in self.labels) if self.labels else 0)
        return hits == self.conditions if self.all_of else hits > 0


class LoggingFilter:
    """A compiled ``LoggingFilter``: ``keeps(waf_log, labels)`` says whether a record is kept."""

    def __init__(self, filters: Sequence[_Filter], default_keep: bool) -> None:
        self._filters = tuple(filters)
        self._default = default_keep

    @classmethod
    def from_aws(cls, data: Any, where: str = "LoggingFilter") -> LoggingFilter:
        """Validate and compile; ``ValueError`` names the JSON path of the first problem."""
        if not isinstance(data, dict):
            raise ValueError(f"{where}: must be an object")
        _only(data, {"DefaultBehavior", "Filters"}, where)
        default = data.get("DefaultBehavior")
        if default not in _BEHAVIORS:
            raise ValueError(f"{where}.DefaultBehavior: must be KEEP or DROP, got {default!r}")
        raw = data.get("Filters")
        if not isinstance(raw, list) or not raw:
            raise ValueError(f"{where}.Filters: must be a list of at least one filter")
        return cls([_compile(f, f"{where}.Filters[{i}]") for i, f in enumerate(raw)],
                   default == "KEEP")

    def keeps(self, waf_log: Mapping[str, Any] | None, labels: Sequence[str]) -> bool:
        actions = record_actions(waf_log or {})
        for f in self._filters:
            if f.matches(actions, labels):
                return f.keep
        return self._default


def _compile(data: Any, where: str) -> _Filter:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: must be an object")
    _only(data, {"Behavior", "Requirement", "Conditions"}, where)
    if data.get("Behavior") not in _BEHAVIORS:
        raise ValueError(f"{where}.Behavior: must be KEEP or DROP, got {data.get('Behavior')!r}")
    if data.get("Requirement") not in _REQUIREMENTS:
        raise ValueError(f"{where}.Requirement: must be MEETS_ALL or MEETS_ANY, "
                         f"got {data.get('Requirement')!r}")
    conditions = data.get("Conditions")
    if not isinstance(conditions, list) or not conditions:
        raise ValueError(f"{where}.Conditions: must be a list of at least one condition")
    actions: set[str] = set()
    labels: set[str] = set()
    for i, c in enumerate(conditions):
        at = f"{where}.Conditions[{i}]"
        if not isinstance(c, dict) or len(c) != 1:
            raise ValueError(f"{at}: must hold one ActionCondition or LabelNameCondition")
        (kind, body), = c.items()
        if kind == "ActionCondition" and isinstance(body, dict):
            action = body.get("Action")
            if action not in _ACTIONS:
                raise ValueError(f"{at}.ActionCondition.Action: must be one of "
                                 f"{', '.join(sorted(_ACTIONS))}, got {action!r}")
            actions.add(action)
        elif kind == "LabelNameCondition" and isinstance(body, dict):
            label = body.get("LabelName")
            if not isinstance(label, str) or not label or len(label) > 1024:
                raise ValueError(f"{at}.LabelNameCondition.LabelName: must be a label name")
            labels.add(label)
        else:
            raise ValueError(f"{at}: must hold one ActionCondition or LabelNameCondition")
    # a repeated condition counts once: MEETS_ALL needs each distinct one
    return _Filter(data["Behavior"] == "KEEP", data["Requirement"] == "MEETS_ALL",
                   frozenset(actions), frozenset(labels), len(actions) + len(labels))


def _only(data: Mapping[str, Any], allowed: Set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(f"{where}: unsupported field {unknown[0]!r}")


@dataclass(frozen=True, slots=True)
class WafLoggingConfiguration:
    """What a ``LoggingConfiguration`` means here: extra redaction and a record filter."""

    redacted_fields: tuple[Mapping[str, Any], ...]
    filter: LoggingFilter | None

    @classmethod
    def load(cls, path: Path) -> WafLoggingConfiguration:
        """From a ``get-logging-configuration`` output or a bare ``LoggingConfiguration``."""
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read {path}: {exc}") from exc
        if isinstance(data, dict) and "LoggingConfiguration" in data:
            data = data["LoggingConfiguration"]
            where = "LoggingConfiguration"
        else:
            where = "LoggingConfiguration (bare)"
        if not isinstance(data, dict):
            raise ValueError(f"{where}: must be an object")
        _only(data, _AWS_SIDE | {"RedactedFields", "LoggingFilter"}, where)
        fields = data.get("RedactedFields") or []
        if not isinstance(fields, list) or not all(isinstance(f, dict) for f in fields):
            raise ValueError(f"{where}.RedactedFields: must be a list of objects")
        try:
            Redactor.from_aws(fields)   # validated now, applied by the logging layer
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}.RedactedFields: {exc}") from exc
        raw = data.get("LoggingFilter")
        return cls(tuple(fields), LoggingFilter.from_aws(raw, f"{where}.LoggingFilter")
                   if raw is not None else None)
