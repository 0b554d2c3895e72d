"""The gateway's own stages: route matching and the integration call."""

from __future__ import annotations

from bastion.gateway.api import CompiledApi, Route
from bastion.pipeline import Exchange, Interruption, Phase, Response, RouteMatch

__all__ = ["MISSING_AUTH_TOKEN", "IntegrationStage", "RouteStage"]

MISSING_AUTH_TOKEN = Interruption("MISSING_AUTHENTICATION_TOKEN", source="route",
                                  reason="no route for this method and path")


class RouteStage:
    """Matches the request to an operation; a miss is 403 Missing Authentication Token."""

    name = "route"
    phase = Phase.ROUTE
    priority = 0

    def __init__(self, api: CompiledApi) -> None:
        self.router = api.router
        self.prefix = api.stage_prefix

    def run(self, ex: Exchange) -> Interruption | None:
        raw = ex.request.raw_path
        if raw.startswith("//"):  # API Gateway ignores extra leading slashes before the stage
            raw = "/" + raw.lstrip("/")
        prefix = self.prefix
        if prefix:
            if not raw.startswith(prefix) or (len(raw) > len(prefix) and raw[len(prefix)] != "/"):
                return MISSING_AUTH_TOKEN
            rel = raw[len(prefix):]
        else:
            rel = raw
        match = self.router.match(ex.request.method, rel)
        if match is None:
            return MISSING_AUTH_TOKEN
        ex.route = RouteMatch(match.target, match.template, "/" + rel.lstrip("/"), match.params)
        return None


class IntegrationStage:
    """Calls the matched route's integration; its result becomes the response."""

    name = "integration"
    phase = Phase.INTEGRATION
    priority = 0

    async def run(self, ex: Exchange) -> Interruption | None:
        if ex.response is not None:  # a cache hit already answered
            return None
        assert ex.route is not None
        route: Route = ex.route.route
        result = await route.integration.invoke(ex)
        if isinstance(result, Response):
            ex.response = result
            return None
        return result
