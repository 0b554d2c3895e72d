"""Gateway responses: how API Gateway words every error it generates, and how users change it.

Each gateway response type has a default status, ``x-amzn-ErrorType`` and message. The body
comes from the template ``{"message":$context.error.messageString}``; users override status,
headers and templates per type, or for every 4xx/5xx through DEFAULT_4XX / DEFAULT_5XX, in the
OpenAPI extension ``x-amazon-apigateway-gateway-responses`` (or ``gateway_responses:`` in
bastion.yaml, same shape). A WAF custom response (``Interruption.body``) bypasses all of this,
as AWS's does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from bastion.errors import ConfigError
from bastion.gateway.integrations.mapping import compile_source
from bastion.pipeline import Exchange, Interruption, Response

__all__ = ["RESPONSE_TYPES", "GatewayResponses", "ResponseType"]


@dataclass(frozen=True, slots=True)
class ResponseType:
    status: int | None  # None: DEFAULT_4XX / DEFAULT_5XX carry no status of their own
    error_type: str
    message: str | None


RESPONSE_TYPES: dict[str, ResponseType] = {
    "ACCESS_DENIED": ResponseType(403, "AccessDeniedException", "Forbidden"),
    "API_CONFIGURATION_ERROR": ResponseType(500, "InternalServerErrorException",
                                            "Internal server error"),
    "AUTHORIZER_CONFIGURATION_ERROR": ResponseType(500, "AuthorizerConfigurationException",
                                                   None),
    "AUTHORIZER_FAILURE": ResponseType(500, "AuthorizerFailureException", None),
    "BAD_REQUEST_PARAMETERS": ResponseType(400, "BadRequestException", "Bad request"),
    "BAD_REQUEST_BODY": ResponseType(400, "BadRequestException", "Invalid request body"),
    "DEFAULT_4XX": ResponseType(None, "", None),
    "DEFAULT_5XX": ResponseType(None, "", None),
    "EXPIRED_TOKEN": ResponseType(403, "ExpiredTokenException", "Token expired"),
    "INTEGRATION_FAILURE": ResponseType(504, "InternalServerErrorException",
                                        "Internal server error"),
    "INTEGRATION_TIMEOUT": ResponseType(504, "InternalServerErrorException",
                                        "Endpoint request timed out"),
    "INVALID_API_KEY": ResponseType(403, "ForbiddenException", "Forbidden"),
    "INVALID_SIGNATURE": ResponseType(403, "InvalidSignatureException", "Forbidden"),
    "MISSING_AUTHENTICATION_TOKEN": ResponseType(403, "MissingAuthenticationTokenException",
                                                 "Missing Authentication Token"),
    "QUOTA_EXCEEDED": ResponseType(429, "LimitExceededException", "Limit Exceeded"),
    "REQUEST_TOO_LARGE": ResponseType(413, "RequestTooLargeException", "Request Too Long"),
    "RESOURCE_NOT_FOUND": ResponseType(404, "ResourceNotFoundException", "Not Found"),
    "THROTTLED": ResponseType(429, "TooManyRequestsException", "Too Many Requests"),
    "UNAUTHORIZED": ResponseType(401, "UnauthorizedException", "Unauthorized"),
    "UNSUPPORTED_MEDIA_TYPE": ResponseType(415, "UnsupportedMediaTypeException",
                                           "Unsupported Media Type"),
    "WAF_FILTERED": ResponseType(403, "WafFilteredException", "Forbidden"),
}

# Errors that come from the integration side are worded with a space after the colon.
_SPACED = frozenset({"INTEGRATION_FAILURE", "INTEGRATION_TIMEOUT",
                     "AUTHORIZER_CONFIGURATION_ERROR", "AUTHORIZER_FAILURE",
                     "API_CONFIGURATION_ERROR"})

_VAR = re.compile(r"\$(?:context\.([A-Za-z0-9_.]+)|stageVariables\.([A-Za-z0-9_]+)|"
                  r"util\.escapeJavaScript\(([^)]*)\))")

Template = Callable[[Exchange, Interruption, str | None], str]


@dataclass(frozen=True, slots=True)
class _Custom:
    status: int | None
    headers: tuple[tuple[str, Callable[[Exchange], str | None]], ...]
    templates: Mapping[str, str]


def _json_str(value: str | None) -> str:
    return "null" if value is None else orjson.dumps(value).decode()


class GatewayResponses:
    """Renders Interruptions into responses, applying the user's gateway responses."""

    def __init__(self, custom: Mapping[str, Any] | None = None, *, stage_variables:
                 Mapping[str, str] | None = None, source: str = "<config>") -> None:
        self._stage_vars = dict(stage_variables or {})
        self._custom: dict[str, _Custom] = {}
        for rtype, spec in (custom or {}).items():
            self._custom[rtype] = self._compile(rtype, spec, source)

    @staticmethod
    def _compile(rtype: str, spec: Any, source: str) -> _Custom:
        key = f"x-amazon-apigateway-gateway-responses.{rtype}"
        if rtype not in RESPONSE_TYPES:
            raise ConfigError(f"unknown gateway response type {rtype!r}", file=source, key=key,
                              line=getattr(spec, "line", None))
        if not isinstance(spec, Mapping):
            raise ConfigError("must be a mapping", file=source, key=key)
        unknown = set(spec) - {"statusCode", "responseParameters", "responseTemplates"}
        if unknown:
            raise ConfigError(f"unknown key(s) {sorted(unknown)}", file=source, key=key,
                              line=getattr(spec, "line", None))
        status = spec.get("statusCode")
        if status is not None:
            try:
                status = int(status)
            except (TypeError, ValueError):
                raise ConfigError("statusCode must be an HTTP status", file=source,
                                  key=f"{key}.statusCode") from None
        headers: list[tuple[str, Callable[[Exchange], str | None]]] = []
        for pname, pvalue in (spec.get("responseParameters") or {}).items():
            prefix = "gatewayresponse.header."
            if not pname.startswith(prefix):
                raise ConfigError(f"unsupported response parameter {pname!r}", file=source,
                                  key=f"{key}.responseParameters")
            headers.append((pname[len(prefix):], compile_source(str(pvalue), file=source,
                                                                  key=key)))
        templates = {str(k): str(v) for k, v in (spec.get("responseTemplates") or {}).items()}
        return _Custom(status, tuple(headers), templates)

    def render(self, ex: Exchange, why: Interruption) -> Response:
        rtype = RESPONSE_TYPES.get(why.response_type, RESPONSE_TYPES["DEFAULT_4XX"])
        status = why.status or rtype.status or 500
        # A type's own customisation wins; otherwise DEFAULT_4XX / DEFAULT_5XX applies.
        spec = self._custom.get(why.response_type) or self._custom.get(
            "DEFAULT_4XX" if status < 500 else "DEFAULT_5XX")
        if spec is not None and spec.status is not None:
            status = spec.status
        message = why.message if why.message is not None or why.response_type in _SPACED \
            else rtype.message
        if why.body is not None:
            body = why.body
        elif spec is not None and spec.templates:
            template = spec.templates.get("application/json") or next(
                iter(spec.templates.values()))
            body = self._fill(template, ex, why, message).encode()
        else:
            sep = ": " if why.response_type in _SPACED else ":"
            body = f'{{"{why.message_key}"{sep}{_json_str(message)}}}'.encode()
        headers: list[tuple[str, str]] = [("Content-Type", why.content_type),
                                          ("x-amzn-RequestId", ex.request_id)]
        error_type = why.error_type or rtype.error_type
        if error_type:
            headers.append(("x-amzn-ErrorType", error_type))
        if spec is not None:
            for hname, getter in spec.headers:
                value = getter(ex)
                if value is not None:
                    headers.append((hname, value))
        headers.extend(why.headers)
        return Response(status, headers, body)

    def _fill(self, template: str, ex: Exchange, why: Interruption, message: str | None) -> str:
        def sub(m: re.Match[str]) -> str:
            ctx, stage_var = m.group(1), m.group(2)
            if stage_var:
                return self._stage_vars.get(stage_var, "")
            if ctx is None:
                return m.group(0)
            return _context_value(ctx, ex, why, message)
        return _VAR.sub(sub, template)


def _context_value(name: str, ex: Exchange, why: Interruption, message: str | None) -> str:
    if name == "error.messageString":
        return _json_str(message)
    if name == "error.message":
        return message or ""
    if name == "error.responseType":
        return why.response_type
    if name == "error.validationErrorString":
        return str(why.details.get("validation_error", ""))
    if name == "requestId":
        return ex.request_id
    if name == "stage":
        return ex.stage_name
    if name == "httpMethod":
        return ex.request.method
    if name == "resourcePath":
        return ex.route.resource_path if ex.route else ""
    if name == "identity.sourceIp":
        return ex.request.client_ip
    if name.startswith("authorizer.") and ex.authorizer:
        return str(ex.authorizer.get(name.split(".", 1)[1], ""))
    return ""
