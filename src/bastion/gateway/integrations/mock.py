"""MOCK integrations: API Gateway answers from the integration's own configuration.

The console's "Enable CORS" makes one for every OPTIONS method, and AWS's PetStore sample serves
its home page from one, so exported REST APIs are full of them::

    x-amazon-apigateway-integration:
      type: mock
      requestTemplates: {application/json: '{"statusCode": 200}'}
      passthroughBehavior: when_no_match
      responses:
        default:
          statusCode: "200"
          responseParameters: {method.response.header.Access-Control-Allow-Origin: "'*'"}
          responseTemplates: {text/html: "<p>stage $context.stage</p>"}

As on AWS:

* the request template for the request's ``Content-Type`` (``application/json`` when there is
  none) names the integration status, ``{"statusCode": N}``; under ``never``, or
  ``when_no_templates`` with templates defined, a media type without a template is answered
  415 Unsupported Media Type, and passed through under ``when_no_match``: as status 200, which
  is Bastion's reading (AWS does not document what a mock makes of a passed-through body);
* the integration response is the one whose selection pattern (the ``responses`` key, a regex
  matched against the whole status) fits, else ``default``; none at all is a 500;
* its ``statusCode`` is the method status, ``responseParameters`` set headers (``'static'``,
  ``context.*``, ``stageVariables.*``), and the response template for the client's ``Accept``
  (else ``application/json``, else the first) is the body, its media type the Content-Type.

Templates are VTL on AWS. Bastion evaluates the references mocks use: ``$context.<name>``,
``$stageVariables.<name>`` and ``$input.params('<name>')`` (path, then query string, then
header), in their ``${...}`` and ``$!`` forms. Anything else (``#if``, ``#set``, ``$util``,
other ``$input`` calls) is refused when the API loads, naming the file and key: a template is
never half-evaluated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from bastion.errors import ConfigError
from bastion.gateway.integrations.events import EventContext
from bastion.pipeline import Exchange, Interruption, Response

__all__ = ["MockIntegration"]

Part = str | Callable[[Exchange], str]

_REF = re.compile(
    r"\$!?(?:\{(?P<b>(?:context|stageVariables)(?:\.[A-Za-z0-9_-]+)+)\}"
    r"|(?P<n>(?:context|stageVariables)(?:\.[A-Za-z0-9_-]+)+)"
    r"|input\.params\(\s*(?P<q>['\"])(?P<p>[^'\"]*)(?P=q)\s*\))")
_UNSUPPORTED = re.compile(
    r"#(?:set|if|elseif|else|end|foreach|macro|define|include|parse|break|stop)\b"
    r"|\$!?\{?(?:input|util|method|stageVariables|context)\b")
_BEHAVIORS = ("when_no_match", "when_no_templates", "never")


def _context_getters(ctx: EventContext) -> dict[str, Callable[[Exchange], Any]]:
    return {
        "stage": lambda ex: ctx.stage,
        "apiId": lambda ex: ctx.api_id,
        "accountId": lambda ex: ctx.account_id,
        "requestId": lambda ex: ex.request_id,
        "extendedRequestId": lambda ex: ex.request_id,
        "httpMethod": lambda ex: ex.request.method,
        "resourcePath": lambda ex: ex.route.resource_path if ex.route else "",
        "path": lambda ex: ex.request.raw_path,
        "domainName": lambda ex: ex.request.headers.get("host") or "",
        "protocol": lambda ex: f"HTTP/{ex.request.http_version}",
        "requestTimeEpoch": lambda ex: int(ex.started_at * 1000),
        "identity.sourceIp": lambda ex: ex.request.client_ip,
        "identity.userAgent": lambda ex: ex.request.headers.get("user-agent") or "",
        "authorizer.principalId": lambda ex: ex.principal or "",
    }


def _param(name: str) -> Callable[[Exchange], str]:
    """``$input.params('name')``: a path parameter, else a query parameter, else a header."""
    def get(ex: Exchange) -> str:
        path = ex.route.path_params if ex.route else {}
        if name in path:
            return str(path[name])
        for k, v in ex.request.query_params:
            if k == name:
                return v
        return ex.request.headers.get(name) or ""
    return get


class _Compiler:
    def __init__(self, ctx: EventContext, source: str, key: str) -> None:
        self.context = _context_getters(ctx)
        self.stage_variables = ctx.stage_variables or {}
        self.source, self.key = source, key

    def error(self, message: str, key: str) -> ConfigError:
        return ConfigError(message, file=self.source, key=f"{self.key}.{key}")

    def template(self, text: str, key: str) -> tuple[Part, ...]:
        parts: list[Part] = []
        at = 0
        for m in _REF.finditer(text):
            self._literal(text[at:m.start()], key, parts)
            ref = m.group("b") or m.group("n")
            parts.append(self._reference(ref, key) if ref else _param(m.group("p")))
            at = m.end()
        self._literal(text[at:], key, parts)
        return tuple(parts)

    def value(self, source: str, key: str) -> Part | None:
        """A ``responseParameters`` source: ``'static'``, ``context.x``, ``stageVariables.x``;
        ``integration.response.*`` is empty for a mock (None: the header is not set)."""
        if len(source) >= 2 and source[0] == source[-1] == "'":
            return source[1:-1]
        if source.startswith(("context.", "stageVariables.")):
            return self._reference(source, key)
        if source.startswith("integration.response."):
            return None
        raise self.error(f"unsupported response parameter source {source!r}", key)

    def _literal(self, text: str, key: str, parts: list[Part]) -> None:
        bad = _UNSUPPORTED.search(text)
        if bad:
            raise self.error(f"VTL {bad.group(0)!r} is not supported in MOCK templates "
                             "(only $context, $stageVariables and $input.params('x'))", key)
        if text:
            parts.append(text)

    def _reference(self, ref: str, key: str) -> Callable[[Exchange], str]:
        scope, _, name = ref.partition(".")
        if scope == "stageVariables":
            value = self.stage_variables.get(name, "")
            return lambda ex: value
        get = self.context.get(name)
        if get is None:
            raise self.error(f"$context.{name} is not supported in MOCK templates "
                             f"(supported: {', '.join(sorted(self.context))})", key)
        return lambda ex: str(get(ex))


def _render(parts: tuple[Part, ...], ex: Exchange) -> str:
    return "".join(p if isinstance(p, str) else p(ex) for p in parts)


def _media(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


class MockIntegration:
    """One MOCK integration, compiled when the API loads."""

    kind = "mock"

    def __init__(self, spec: Mapping[str, Any], ctx: EventContext, *, source: str,
                 key: str) -> None:
        c = _Compiler(ctx, source, key)
        behavior = str(spec.get("passthroughBehavior", "when_no_match")).lower()
        if behavior not in _BEHAVIORS:
            raise c.error(f"must be one of {', '.join(_BEHAVIORS)}", "passthroughBehavior")
        self._behavior = behavior
        self._requests: dict[str, int] = {}
        for media, text in (spec.get("requestTemplates") or {}).items():
            self._requests[_media(str(media))] = self._status(str(text), c,
                                                              f"requestTemplates.{media}")
        self._responses: list[tuple[re.Pattern[str] | None, int, tuple[tuple[str, Part], ...],
                                    dict[str, tuple[Part, ...]]]] = []
        for pattern, resp in (spec.get("responses") or {}).items():
            at = f"responses.{pattern}"
            if not isinstance(resp, Mapping):
                raise c.error("must be a mapping", at)
            try:
                status = int(resp.get("statusCode", 0))
            except (TypeError, ValueError):
                status = 0
            if not 100 <= status <= 599:
                raise c.error("statusCode must be an HTTP status", f"{at}.statusCode")
            headers = []
            for target, src in (resp.get("responseParameters") or {}).items():
                prefix = "method.response.header."
                if not str(target).startswith(prefix):
                    raise c.error(f"unsupported response parameter {target!r}",
                                  f"{at}.responseParameters")
                value = c.value(str(src), f"{at}.responseParameters.{target}")
                if value is not None:
                    headers.append((str(target)[len(prefix):], value))
            templates = {_media(str(m)): c.template(str(t), f"{at}.responseTemplates.{m}")
                         for m, t in (resp.get("responseTemplates") or {}).items()}
            try:
                rx = None if pattern == "default" else re.compile(str(pattern))
            except re.error as exc:
                raise c.error(f"selection pattern does not compile: {exc}", at) from None
            self._responses.append((rx, status, tuple(headers), templates))
        # patterns are tried before the default, as API Gateway does
        self._responses.sort(key=lambda r: r[0] is None)

    @staticmethod
    def _status(text: str, c: _Compiler, key: str) -> int:
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        status = value.get("statusCode") if isinstance(value, dict) else None
        if not isinstance(status, int) or isinstance(status, bool):
            raise c.error('a MOCK request template must be {"statusCode": <integer>} '
                          "(VTL in it is not supported)", key)
        return status

    async def invoke(self, ex: Exchange) -> Response | Interruption:
        media = _media(ex.request.headers.get("content-type")) or "application/json"
        status = self._requests.get(media)
        if status is None:
            if self._behavior == "never" or (self._behavior == "when_no_templates"
                                             and self._requests):
                return Interruption("UNSUPPORTED_MEDIA_TYPE", source="integration")
            status = 200
        code = str(status)
        chosen = next((r for r in self._responses if r[0] is None or r[0].fullmatch(code)), None)
        if chosen is None:
            ex.note("integration", "mock_no_response", status=status)
            return Interruption("API_CONFIGURATION_ERROR", message="Internal server error",
                                source="integration")
        _, method_status, headers, templates = chosen
        out = [(name, v if isinstance(v, str) else v(ex)) for name, v in headers]
        body = b""
        content_type = "application/json"
        if templates:
            accept = _media(ex.request.headers.get("accept"))
            media = accept if accept in templates else "application/json" \
                if "application/json" in templates else next(iter(templates))
            body = _render(templates[media], ex).encode()
            content_type = media
        if not any(n.lower() == "content-type" for n, _ in out):
            out.insert(0, ("Content-Type", content_type))
        return Response(method_status, out, body)
