"""The fixed order of a request's life, as API Gateway documents it.

WAF runs before routing; an unknown route is refused before any authorizer runs; the
resource policy and authorizers come before API keys and usage plans; validation comes
before the cache, and the cache before the integration. LOGGING always runs.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["Phase"]


class Phase(IntEnum):
    CONNECTION = 10  # client address, transport limits, edge checks
    FIREWALL = 20  # Web ACL and managed rule groups on the request
    ROUTE = 30  # match method + path to an OpenAPI operation
    AUTHORIZE = 40  # resource policy, IAM/SigV4, JWT, custom authorizers, Cedar
    USAGE = 50  # API keys, usage plans, throttling
    VALIDATE = 60  # request validators
    CACHE = 70  # response cache lookup
    INTEGRATION = 80  # Python handler or HTTP upstream: produces the response
    RESPONSE = 90  # response-side work (cache store, response inspection, headers)
    LOGGING = 100  # access/WAF logs, metrics, audit: always runs, never blocks
