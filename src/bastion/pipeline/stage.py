"""The one extension seam of the request path: a stage."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol, runtime_checkable

from bastion.pipeline.exchange import Exchange
from bastion.pipeline.interruption import Interruption
from bastion.pipeline.phases import Phase

__all__ = ["Stage", "StageResult"]

StageResult = Interruption | None


@runtime_checkable
class Stage(Protocol):
    """A step of the request path.

    ``run`` returns ``None`` to continue or an ``Interruption`` to stop; it may be a plain
    function or a coroutine function (the chain checks once, at build). Within a phase a
    higher ``priority`` runs first. Results of RESPONSE and LOGGING stages are ignored.
    """

    name: str
    phase: Phase
    priority: int

    def run(self, ex: Exchange) -> StageResult | Awaitable[StageResult]: ...
