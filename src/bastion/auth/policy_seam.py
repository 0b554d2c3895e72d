"""The one function custom authorizers need from IAM: does this policy allow this call?

``evaluate(policy, action, resource)`` is the seam between ``custom.py`` and the IAM engine
(``bastion.auth.iam``, written on another branch). Until that engine is merged this module carries
a deliberately small evaluator that covers what Lambda-authorizer policies use in practice:
``Effect``, ``Action``/``NotAction`` (case-insensitive), ``Resource``/``NotResource`` with ``*`` and
``?`` wildcards (``*`` crosses ``/``; ARN matching is case-sensitive), explicit Deny wins.
A ``Condition`` cannot be evaluated here without request context, so it is handled on the safe
side: a conditional Deny applies, a conditional Allow does not (noted in the verdict).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = ["Decision", "PolicyError", "Verdict", "evaluate"]


class Decision(enum.Enum):
    ALLOW = "Allow"
    EXPLICIT_DENY = "ExplicitDeny"
    IMPLICIT_DENY = "ImplicitDeny"


class PolicyError(ValueError):
    """Raised when a policy document is malformed ("Could not parse policy" on AWS)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The decision and the statement that made it (``None`` for an implicit deny)."""

    decision: Decision
    statement: int | None = None
    sid: str | None = None
    note: str = ""


@lru_cache(maxsize=4096)
def _pattern(glob: str, ignore_case: bool) -> re.Pattern[str]:
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(rx, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _as_list(v: Any, what: str, i: int) -> list[str]:
    if isinstance(v, str):
        return [v]
    if isinstance(v, list) and v and all(isinstance(x, str) for x in v):
        return list(v)
    raise PolicyError(f"Statement[{i}].{what} must be a string or a non-empty list of strings")


def _matches(patterns: list[str], value: str, ignore_case: bool) -> bool:
    return any(_pattern(p, ignore_case).fullmatch(value) for p in patterns)


def _statements(policy: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if not isinstance(policy, Mapping):
        raise PolicyError("policy document is not an object")
    st = policy.get("Statement")
    if isinstance(st, Mapping):
        st = [st]
    if not isinstance(st, list) or not st:
        raise PolicyError("policy document has no Statement")
    if not all(isinstance(s, Mapping) for s in st):
        raise PolicyError("every Statement must be an object")
    return st


def evaluate(policy: Mapping[str, Any], action: str, resource: str) -> Verdict:
    """Evaluate one policy document for ``action`` on ``resource``. Raises ``PolicyError``."""
    allow: Verdict | None = None
    for i, s in enumerate(_statements(policy)):
        effect = s.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyError(f"Statement[{i}].Effect must be Allow or Deny")
        if ("Action" in s) == ("NotAction" in s):
            raise PolicyError(f"Statement[{i}] needs exactly one of Action/NotAction")
        if ("Resource" in s) == ("NotResource" in s):
            raise PolicyError(f"Statement[{i}] needs exactly one of Resource/NotResource")
        if "Action" in s:
            act_ok = _matches(_as_list(s["Action"], "Action", i), action, True)
        else:
            act_ok = not _matches(_as_list(s["NotAction"], "NotAction", i), action, True)
        if "Resource" in s:
            res_ok = _matches(_as_list(s["Resource"], "Resource", i), resource, False)
        else:
            res_ok = not _matches(_as_list(s["NotResource"], "NotResource", i), resource, False)
        if not (act_ok and res_ok):
            continue
        sid = s.get("Sid") if isinstance(s.get("Sid"), str) else None
        conditional = "Condition" in s
        if effect == "Deny":
            note = "conditional Deny applied without its Condition" if conditional else ""
            return Verdict(Decision.EXPLICIT_DENY, i, sid, note)
        if conditional:
            continue
        if allow is None:
            allow = Verdict(Decision.ALLOW, i, sid)
    return allow or Verdict(Decision.IMPLICIT_DENY)
