"""The policy model: JSON parsed and validated once into frozen, compiled objects.

``parse_policy`` accepts identity policies, resource policies and Lambda-authorizer policies.
Everything invalid is a ``PolicyError`` (a ``ConfigError``) that names the policy and the
statement (Sid or index): unknown elements, bad Effect, missing or doubled Action/Resource,
unknown condition operators, unparsable condition values, duplicate JSON keys.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bastion.errors import ConfigError

from ._patterns import compile_glob
from .arn import expand_execute_api_shorthand
from .conditions import Condition, compile_condition
from .variables import Template, parse_template

__all__ = [
    "ApiScope",
    "Policy",
    "PolicyError",
    "PolicyKind",
    "PrincipalSpec",
    "Statement",
    "parse_policy",
    "parse_policy_json",
]

PolicyKind = Literal["identity", "resource"]
VERSIONS = ("2012-10-17", "2008-10-17")
_STATEMENT_KEYS = {
    "Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Principal",
    "NotPrincipal", "Condition",
}
_ACTION = re.compile(r"^[A-Za-z0-9*?_.-]+:[A-Za-z0-9*?_.-]+$")
_ACCOUNT = re.compile(r"^\d{12}$")


class PolicyError(ConfigError):
    """Raised when a policy document is malformed; names the policy and the statement."""


@dataclass(frozen=True, slots=True)
class ApiScope:
    """Where ``execute-api:/...`` shorthand resources point (the API the policy is attached to)."""

    region: str
    account: str
    api_id: str
    partition: str = "aws"


@dataclass(frozen=True, slots=True)
class PrincipalSpec:
    """A Principal / NotPrincipal element: ``everyone`` or typed identifiers."""

    everyone: bool
    aws: tuple[str, ...] = ()
    service: tuple[str, ...] = ()
    federated: tuple[str, ...] = ()
    canonical_user: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Statement:
    """One compiled statement. ``label`` is ``Sid 'x'`` or ``Statement[i]`` for messages."""

    index: int
    sid: str | None
    effect: Literal["Allow", "Deny"]
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[Template, ...]
    not_resource: bool
    principal: PrincipalSpec | None
    not_principal: bool
    conditions: tuple[Condition, ...]

    @property
    def label(self) -> str:
        return f"Sid '{self.sid}'" if self.sid else f"Statement[{self.index}]"

    def matches_action(self, action: str) -> bool:
        hit = any(compile_glob(a, True).match(action) for a in self.actions)
        return hit != self.not_action


@dataclass(frozen=True, slots=True)
class Policy:
    """A compiled policy: ``name`` (file or label), ``kind``, ``version``, statements."""

    name: str
    kind: PolicyKind
    version: str | None
    id: str | None
    statements: tuple[Statement, ...]

    @property
    def variables(self) -> bool:
        return self.version == "2012-10-17"


def _strings(value: object, what: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ValueError(f"{what} must not be empty")
    for item in items:
        if not isinstance(item, str) or not item:
            raise ValueError(f"{what} must be a non-empty string or a list of them, "
                             f"got {item!r}")
    return tuple(items)


def _parse_principal(value: object, what: str) -> PrincipalSpec:
    if value == "*":
        return PrincipalSpec(everyone=True)
    if not isinstance(value, dict) or not value:
        raise ValueError(f'{what} must be "*" or an object like {{"AWS": ...}}')
    fields: dict[str, tuple[str, ...]] = {}
    for kind, ids in value.items():
        if kind not in ("AWS", "Service", "Federated", "CanonicalUser"):
            raise ValueError(f"{what} has an unknown principal type {kind!r}")
        fields[kind] = _strings(ids, f"{what}.{kind}")
    aws = fields.get("AWS", ())
    if "*" in aws:
        return PrincipalSpec(everyone=True)
    for ident in aws:
        if "*" in ident or "?" in ident:
            raise ValueError(f"{what}.AWS: wildcards are not allowed in a principal ({ident!r});"
                             ' use "*" or a condition on aws:PrincipalArn')
        if not (_ACCOUNT.match(ident) or ident.startswith("arn:")):
            raise ValueError(f"{what}.AWS: {ident!r} is neither an account id nor an ARN")
    return PrincipalSpec(
        everyone=False, aws=aws, service=fields.get("Service", ()),
        federated=fields.get("Federated", ()), canonical_user=fields.get("CanonicalUser", ()),
    )


def _parse_statement(
    raw: object, index: int, kind: PolicyKind, variables: bool, api: ApiScope | None
) -> Statement:
    if not isinstance(raw, dict):
        raise ValueError("a statement must be a JSON object")
    unknown = set(raw) - _STATEMENT_KEYS
    if unknown:
        raise ValueError(f"unknown statement element(s): {', '.join(sorted(unknown))}")
    sid = raw.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise ValueError("Sid must be a string")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise ValueError(f'Effect must be "Allow" or "Deny", got {effect!r}')
    if ("Action" in raw) == ("NotAction" in raw):
        raise ValueError("exactly one of Action or NotAction is required")
    not_action = "NotAction" in raw
    actions = _strings(raw["NotAction" if not_action else "Action"],
                       "NotAction" if not_action else "Action")
    for action in actions:
        if action != "*" and not _ACTION.match(action):
            raise ValueError(f"invalid action {action!r} (expected 'service:Action')")
    if ("Resource" in raw) == ("NotResource" in raw):
        raise ValueError("exactly one of Resource or NotResource is required")
    not_resource = "NotResource" in raw
    resources = []
    for res in _strings(raw["NotResource" if not_resource else "Resource"], "Resource"):
        if api is not None:
            res = expand_execute_api_shorthand(res, api.region, api.account, api.api_id,
                                               api.partition)
        if res != "*" and not res.startswith("arn:"):
            raise ValueError(f"invalid resource {res!r} (expected an ARN or \"*\")")
        resources.append(parse_template(res, variables=variables))
    has_p, has_np = "Principal" in raw, "NotPrincipal" in raw
    if kind == "identity" and (has_p or has_np):
        raise ValueError("Principal/NotPrincipal are not allowed in an identity policy")
    if kind == "resource" and has_p == has_np:
        raise ValueError("a resource policy statement needs exactly one of Principal or "
                         "NotPrincipal")
    principal = None
    if has_p or has_np:
        principal = _parse_principal(raw["NotPrincipal" if has_np else "Principal"],
                                     "NotPrincipal" if has_np else "Principal")
    conditions: list[Condition] = []
    block = raw.get("Condition", {})
    if not isinstance(block, dict):
        raise ValueError("Condition must be an object")
    for operator_text, keys in block.items():
        if not isinstance(keys, dict) or not keys:
            raise ValueError(f"Condition operator {operator_text!r} needs an object of keys")
        for key, value in keys.items():
            conditions.append(compile_condition(operator_text, key, value, variables=variables))
    return Statement(
        index=index, sid=sid, effect=effect, actions=actions, not_action=not_action,
        resources=tuple(resources), not_resource=not_resource, principal=principal,
        not_principal=has_np, conditions=tuple(conditions),
    )


def parse_policy(
    doc: Mapping[str, Any], *, name: str = "<policy>", kind: PolicyKind = "identity",
    api: ApiScope | None = None,
) -> Policy:
    """Compile a policy document (already decoded JSON).

    ``kind="resource"`` requires Principal/NotPrincipal; ``api`` expands ``execute-api:/...``
    shorthand resources to full ARNs as API Gateway does on import.
    """
    if not isinstance(doc, Mapping):
        raise PolicyError("a policy must be a JSON object", file=name)
    unknown = set(doc) - {"Version", "Id", "Statement"}
    if unknown:
        raise PolicyError(f"unknown policy element(s): {', '.join(sorted(unknown))}", file=name)
    version = doc.get("Version")
    if version is not None and version not in VERSIONS:
        raise PolicyError(f"unsupported Version {version!r} (use \"2012-10-17\")", file=name,
                          key="Version")
    policy_id = doc.get("Id")
    if policy_id is not None and not isinstance(policy_id, str):
        raise PolicyError("Id must be a string", file=name, key="Id")
    raw_statements = doc.get("Statement")
    if raw_statements is None:
        raise PolicyError("a policy needs a Statement", file=name)
    if isinstance(raw_statements, dict):
        raw_statements = [raw_statements]
    if not isinstance(raw_statements, list) or not raw_statements:
        raise PolicyError("Statement must be an object or a non-empty list", file=name)
    statements = []
    for i, raw in enumerate(raw_statements):
        sid = raw.get("Sid") if isinstance(raw, dict) else None
        label = f"Statement[{i}]" + (f" (Sid '{sid}')" if isinstance(sid, str) else "")
        try:
            statements.append(_parse_statement(raw, i, kind, version == "2012-10-17", api))
        except ValueError as exc:
            raise PolicyError(str(exc), file=name, key=label) from None
    return Policy(name=name, kind=kind, version=version, id=policy_id,
                  statements=tuple(statements))


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def parse_policy_json(
    text: str, *, name: str = "<policy>", kind: PolicyKind = "identity",
    api: ApiScope | None = None,
) -> Policy:
    """Decode and compile a policy from JSON text (duplicate keys are an error)."""
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates)
    except ValueError as exc:
        raise PolicyError(f"not valid JSON: {exc}", file=name) from None
    return parse_policy(doc, name=name, kind=kind, api=api)
