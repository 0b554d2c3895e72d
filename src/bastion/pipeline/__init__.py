"""The request pipeline: one ``Exchange`` flows through ``Stage``s sorted once by phase."""

from __future__ import annotations

from bastion.pipeline.chain import Chain, Renderer
from bastion.pipeline.exchange import Exchange, Request, Response, RouteMatch, TraceEvent
from bastion.pipeline.headers import Headers
from bastion.pipeline.interruption import Interruption
from bastion.pipeline.phases import Phase
from bastion.pipeline.stage import Stage, StageResult

__all__ = [
    "Chain",
    "Exchange",
    "Headers",
    "Interruption",
    "Phase",
    "Renderer",
    "Request",
    "Response",
    "RouteMatch",
    "Stage",
    "StageResult",
    "TraceEvent",
]
