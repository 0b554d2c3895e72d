"""The one object that flows through the chain: the request, and what each layer learned of it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, unquote_plus

from bastion.pipeline.headers import Headers
from bastion.pipeline.interruption import Interruption

__all__ = ["Exchange", "Request", "Response", "RouteMatch", "TraceEvent", "parse_query"]


def parse_query(qs: str) -> list[tuple[str, str]]:
    """Form-decode a query string, keeping order and repeats (``+`` is a space, blanks kept)."""
    out: list[tuple[str, str]] = []
    if not qs:
        return out
    for part in qs.split("&"):
        if not part:
            continue
        name, sep, value = part.partition("=")
        out.append((unquote_plus(name), unquote_plus(value) if sep else ""))
    return out


@dataclass(slots=True)
class Request:
    """The client's request as received. ``raw_path`` is percent-encoded, as on the wire."""

    method: str
    raw_path: str
    query_string: str
    headers: Headers
    body: bytes = b""
    client_ip: str = "127.0.0.1"
    client_port: int = 0
    scheme: str = "http"
    http_version: str = "1.1"
    host: str = ""
    _query: list[tuple[str, str]] | None = None

    @property
    def path(self) -> str:
        """The percent-decoded path."""
        return unquote(self.raw_path)

    @property
    def query_params(self) -> list[tuple[str, str]]:
        q = self._query
        if q is None:
            q = self._query = parse_query(self.query_string)
        return q


@dataclass(slots=True)
class Response:
    """What goes back to the client. ``stream`` (if set) yields the body after ``body``."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None

    def header(self, name: str) -> str | None:
        low = name.lower()
        for k, v in self.headers:
            if k.lower() == low:
                return v
        return None


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """A matched OpenAPI operation: ``route`` is the gateway's compiled route object."""

    route: Any
    resource_path: str  # the OpenAPI template, e.g. /pets/{petId}
    path: str  # the request path without the stage prefix, not decoded
    path_params: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class TraceEvent:
    """One line of the decision trace: which layer decided what, and why."""

    stage: str
    event: str
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class Exchange:
    """One request's state. Layers talk to each other only through it.

    ``authorizer`` becomes ``requestContext.authorizer`` and ``identity`` fills
    ``requestContext.identity`` in the Lambda event; ``notes`` is a bag for layer-private data.
    """

    request: Request
    request_id: str
    started_at: float  # wall time, seconds
    started_mono: float
    stage_name: str = ""
    route: RouteMatch | None = None
    identity: dict[str, Any] = field(default_factory=dict)
    authorizer: dict[str, Any] | None = None
    principal: str | None = None
    api_key_id: str | None = None
    labels: list[str] = field(default_factory=list)
    trace: list[TraceEvent] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    interruption: Interruption | None = None
    response: Response | None = None
    response_bytes: int = 0
    notes: dict[str, Any] = field(default_factory=dict)

    def note(self, stage: str, event: str, **detail: Any) -> None:
        """Add to the decision trace."""
        self.trace.append(TraceEvent(stage, event, detail))
