"""``Decision``: the outcome of an authorization question, and why."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Decision", "NearMiss", "Outcome", "StatementRef"]


class Outcome(StrEnum):
    """ALLOW, EXPLICIT_DENY (a Deny statement applied) or IMPLICIT_DENY (nothing allowed)."""

    ALLOW = "ALLOW"
    EXPLICIT_DENY = "EXPLICIT_DENY"
    IMPLICIT_DENY = "IMPLICIT_DENY"


@dataclass(frozen=True, slots=True)
class StatementRef:
    """Which statement: its policy's name and kind, its Sid (if any) and index."""

    policy: str
    policy_kind: str
    index: int
    sid: str | None
    effect: str

    def __str__(self) -> str:
        where = f"Sid '{self.sid}'" if self.sid else f"Statement[{self.index}]"
        return f"{where} ({self.effect}) in {self.policy_kind} policy {self.policy}"


@dataclass(frozen=True, slots=True)
class NearMiss:
    """A statement whose action, resource and principal matched but a condition did not."""

    statement: StatementRef
    condition: str

    def __str__(self) -> str:
        return f"{self.statement}: condition not met: {self.condition}"


@dataclass(frozen=True, slots=True)
class Decision:
    """``outcome`` plus the deciding statement (None for an implicit deny), a one-line
    ``reason``, and the near misses (Allow/Deny statements that failed only on a condition).

    ``side`` says which evaluation decided after combination: ``identity``, ``resource`` or
    ``both`` (cross-account Table B allow); ``same_account`` is None when no combination ran.
    """

    outcome: Outcome
    reason: str
    statement: StatementRef | None = None
    near_misses: tuple[NearMiss, ...] = ()
    side: str | None = None
    same_account: bool | None = None

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.ALLOW

    @property
    def explicit(self) -> bool:
        return self.outcome is Outcome.EXPLICIT_DENY

    def explain(self) -> str:
        """Multi-line human explanation (used by ``bastion policy simulate``)."""
        lines = [f"{self.outcome.value}: {self.reason}"]
        lines.extend(f"  near miss: {m}" for m in self.near_misses)
        return "\n".join(lines)
