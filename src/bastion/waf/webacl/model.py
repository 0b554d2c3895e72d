"""The compiled Web ACL: frozen values built once by the compiler, shared by every request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bastion.waf.webacl.statements import ForwardedIP, Statement

if TYPE_CHECKING:
    from bastion.waf.webacl.issues import Issue
    from bastion.waf.webacl.request import WafRequest

__all__ = [
    "Action",
    "CrsInspector",
    "CrsVerdict",
    "CustomKey",
    "CustomResponse",
    "GroupRef",
    "RateBased",
    "Rule",
    "RuleBody",
    "RuleGroup",
    "WebAcl",
]

CONTENT_TYPES = {"TEXT_PLAIN": "text/plain", "TEXT_HTML": "text/html",
                 "APPLICATION_JSON": "application/json"}


@dataclass(frozen=True, slots=True)
class CustomResponse:
    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    content_type: str | None = None
    body_key: str | None = None


@dataclass(frozen=True, slots=True)
class Action:
    """A RuleAction or DefaultAction: ALLOW, BLOCK, COUNT, CAPTCHA or CHALLENGE.

    ``insert_headers`` already carry AWS's ``x-amzn-waf-`` prefix.
    """

    kind: str
    custom_response: CustomResponse | None = None
    insert_headers: tuple[tuple[str, str], ...] = ()

    @property
    def terminating(self) -> bool:
        return self.kind != "COUNT"


COUNT = Action("COUNT")


@dataclass(frozen=True, slots=True)
class CustomKey:
    """One RateBasedStatementCustomKey; ``kind`` is the WAFv2 member name."""

    kind: str
    name: str = ""
    chain: tuple[str, ...] = ()

    @property
    def log_key(self) -> str:
        return {"HTTPMethod": "HTTP_METHOD", "QueryArgument": "QUERY_ARGUMENT",
                "QueryString": "QUERY_STRING", "UriPath": "URI_PATH", "ForwardedIP":
                "FORWARDED_IP", "LabelNamespace": "LABEL_NAMESPACE"}.get(self.kind,
                                                                         self.kind.upper())


@dataclass(frozen=True, slots=True)
class RateBased:
    limit: int
    window_s: int
    key_type: str  # IP | FORWARDED_IP | CONSTANT | CUSTOM_KEYS
    keys: tuple[CustomKey, ...] = ()
    forwarded: ForwardedIP | None = None
    scope_down: Statement | None = None


@dataclass(frozen=True, slots=True)
class CrsVerdict:
    """What the OWASP CRS hook found: every matched rule id, and whether to block (the anomaly
    score passed the threshold; ``terminating`` names the rule that decided, e.g. ``949110``)."""

    matched: tuple[str, ...] = ()
    block: bool = False
    terminating: str | None = None
    # the engine's match records (id, msg, logdata, matched_var_name...), as it made them: what
    # explains a block (``bastion try``); never logged, since matched values may be secrets
    records: tuple[Any, ...] = ()


# The SecLang engine plugs in here: inspect a request at a paranoia level, skipping ids.
# A coroutine function works too (the evaluator awaits an awaitable result).
CrsInspector = Callable[["WafRequest", int, frozenset[str]], "CrsVerdict | Awaitable[CrsVerdict]"]


@dataclass(frozen=True, slots=True)
class GroupRef:
    """A ManagedRuleGroupStatement or RuleGroupReferenceStatement, resolved."""

    group: RuleGroup
    rule_type: str  # MANAGED_RULE_GROUP | GROUP
    excluded: frozenset[str] = frozenset()
    overrides: Mapping[str, Action] = field(default_factory=dict)
    scope_down: Statement | None = None
    crs: CrsInspector | None = None
    paranoia: int = 1


RuleBody = Statement | RateBased | GroupRef


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    priority: int
    body: RuleBody
    action: Action | None = None  # rules without a group
    override_count: bool = False  # OverrideAction {Count: {}} on a group reference
    labels: tuple[str, ...] = ()
    metric: str = ""
    captcha_immunity: int = 300
    challenge_immunity: int = 300


@dataclass(frozen=True, slots=True)
class RuleGroup:
    name: str
    group_id: str  # ARN for customer groups, "AWS#AWSManagedRulesCommonRuleSet" for managed
    namespace: str
    rules: tuple[Rule, ...]
    metric: str = ""

    def rule_names(self) -> frozenset[str]:
        return frozenset(r.name for r in self.rules)


@dataclass(frozen=True, slots=True)
class WebAcl:
    name: str
    acl_id: str
    arn: str
    namespace: str
    default_action: Action
    rules: tuple[Rule, ...]
    metric: str
    body_limit: int = 8192
    captcha_immunity: int = 300
    challenge_immunity: int = 300
    token_domains: tuple[str, ...] = ()
    issues: tuple[Issue, ...] = ()
