"""What an authorizer may know about a request, independent of the HTTP server.

``AuthRequest`` is a plain value the gateway fills from its ``Exchange`` (``from_exchange``); the
authorizers build the AWS event shapes and the ``methodArn`` from it, and tests build it directly.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bastion.pipeline.exchange import Exchange

__all__ = ["AuthRequest"]


@dataclass(frozen=True, slots=True)
class AuthRequest:
    """One request as API Gateway describes it to authorizers.

    ``path`` is the request path without the stage prefix, as on the wire (not decoded);
    ``resource`` the route template (``/pets/{petId}``); ``headers`` and ``query`` keep order and
    repeats; ``context`` holds ``$context`` variables usable as identity sources.
    """

    method: str
    path: str
    resource: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    query: tuple[tuple[str, str], ...] = ()
    raw_query: str = ""
    path_params: Mapping[str, str] = field(default_factory=dict)
    stage: str = "prod"
    stage_variables: Mapping[str, str] = field(default_factory=dict)
    context: Mapping[str, str] = field(default_factory=dict)
    api_id: str = "bastion"
    account_id: str = "123456789012"
    region: str = "us-east-1"
    source_ip: str = "127.0.0.1"
    request_id: str = ""
    domain_name: str = "localhost"
    protocol: str = "HTTP/1.1"
    time_epoch_ms: int = 0
    route_key: str = ""

    def header(self, name: str) -> str | None:
        low = name.lower()
        for k, v in self.headers:
            if k.lower() == low:
                return v
        return None

    def query_param(self, name: str) -> str | None:
        """The last value of ``name`` (as API Gateway's single-value map keeps it)."""
        found = None
        for k, v in self.query:
            if k == name:
                found = v
        return found

    def context_var(self, name: str) -> str | None:
        builtin = {"requestId": self.request_id, "stage": self.stage, "apiId": self.api_id,
                   "httpMethod": self.method, "resourcePath": self.resource,
                   "routeKey": self.effective_route_key,
                   "identity.sourceIp": self.source_ip, "accountId": self.account_id}
        return self.context.get(name, builtin.get(name))

    @property
    def effective_route_key(self) -> str:
        return self.route_key or f"{self.method} {self.resource or self.path}"

    @property
    def method_arn(self) -> str:
        """``arn:aws:execute-api:{region}:{account}:{api}/{stage}/{VERB}/{path}`` (the real path;
        root is ``.../GET/``)."""
        path = self.path[1:] if self.path.startswith("/") else self.path
        return (f"arn:aws:execute-api:{self.region}:{self.account_id}:{self.api_id}/"
                f"{self.stage}/{self.method.upper()}/{path}")

    def request_time(self) -> str:
        return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(self.time_epoch_ms / 1000))

    @classmethod
    def from_exchange(cls, ex: Exchange, **kw: Any) -> AuthRequest:
        """Fill from an ``Exchange`` after routing; ``kw`` sets api_id, account_id, region,
        stage_variables and any other field."""
        req = ex.request
        route = ex.route
        fields: dict[str, Any] = {
            "method": req.method,
            "path": route.path if route else req.raw_path,
            "resource": route.resource_path if route else "",
            "headers": tuple(req.headers.items()),
            "query": tuple(req.query_params),
            "raw_query": req.query_string,
            "path_params": dict(route.path_params) if route else {},
            "stage": ex.stage_name or "prod",
            "source_ip": req.client_ip,
            "request_id": ex.request_id,
            "domain_name": req.host or "localhost",
            "protocol": f"HTTP/{req.http_version}",
            "time_epoch_ms": int(ex.started_at * 1000),
        }
        fields.update(kw)
        return cls(**fields)
