"""The one function custom authorizers need from IAM: does this policy allow this call?

``evaluate(policy, action, resource)`` is the seam between ``custom.py`` and the IAM engine
(``bastion.auth.iam``): it compiles the authorizer's returned policy document as an identity
policy and evaluates it with full IAM semantics (wildcards, NotAction/NotResource, conditions
against ``context``, explicit Deny wins). Keeping the seam one function means the custom
authorizer does not depend on the engine's richer API.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bastion.auth import iam

__all__ = ["Decision", "PolicyError", "Verdict", "evaluate"]

PolicyError = iam.PolicyError


class Decision(enum.Enum):
    ALLOW = "Allow"
    EXPLICIT_DENY = "ExplicitDeny"
    IMPLICIT_DENY = "ImplicitDeny"


_OUTCOME = {
    iam.Outcome.ALLOW: Decision.ALLOW,
    iam.Outcome.EXPLICIT_DENY: Decision.EXPLICIT_DENY,
    iam.Outcome.IMPLICIT_DENY: Decision.IMPLICIT_DENY,
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """The decision and the statement that made it (``None`` for an implicit deny)."""

    decision: Decision
    statement: int | None = None
    sid: str | None = None
    note: str = ""


def evaluate(
    policy: Mapping[str, Any], action: str, resource: str,
    context: iam.RequestContext | None = None,
) -> Verdict:
    """Evaluate one policy document for ``action`` on ``resource``; raises ``PolicyError``."""
    compiled = iam.parse_policy(policy, name="authorizer", kind="identity")
    req = iam.AccessRequest(action=action, resource=resource,
                            context=context or iam.RequestContext())
    d = iam.evaluate([compiled], req)
    st = d.statement
    note = "; ".join(str(m) for m in d.near_misses)
    return Verdict(_OUTCOME[d.outcome], st.index if st else None, st.sid if st else None, note)
