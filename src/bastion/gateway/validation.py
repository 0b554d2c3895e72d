"""Request validators, as API Gateway's: required parameters and a JSON Schema body model.

``x-amazon-apigateway-request-validators`` names validators
(``{basic: {validateRequestBody: true, validateRequestParameters: true}}``); the top-level
``x-amazon-apigateway-request-validator`` is the default, an operation's overrides it.

* Parameters: every ``required`` header, path and query parameter must be present and not
  blank, else 400 ``Missing required request parameters: [a, b]`` (headers, then path, then
  query string, as AWS lists them).
* Body: the ``application/json`` model (OpenAPI 3 ``requestBody`` or a Swagger 2 ``body``
  parameter) validated as JSON Schema draft 4, else 400 ``Invalid request body``; the
  validator's own message goes to the trace and logs (``$context.error.validationErrorString``),
  never to the client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema
import orjson

from bastion.config import ApiDefinition, Operation
from bastion.errors import ConfigError
from bastion.gateway.api import Route
from bastion.gateway.gateway import GatewayContext
from bastion.pipeline import Exchange, Interruption, Phase, Stage

__all__ = ["RequestValidator", "validation_layer"]

_ORDER = {"header": 0, "path": 1, "query": 2}
_MAX_DEPTH = 64


@dataclass(frozen=True, slots=True)
class _Rules:
    required: tuple[tuple[str, str], ...]  # (location, name), in AWS's reporting order
    body: jsonschema.protocols.Validator | None


def _validator_for(op: Operation, api: ApiDefinition) -> tuple[bool, bool]:
    validators = api.extension("x-amazon-apigateway-request-validators") or {}
    name = op.raw.get("x-amazon-apigateway-request-validator",
                      api.extension("x-amazon-apigateway-request-validator"))
    if name is None:
        return False, False
    spec = validators.get(name) if isinstance(validators, Mapping) else None
    if not isinstance(spec, Mapping):
        raise ConfigError(f"request validator {name!r} is not defined in "
                          "x-amazon-apigateway-request-validators", file=str(api.source),
                          line=op.line, key=f"paths.{op.path}.{op.method.lower()}")
    return bool(spec.get("validateRequestParameters")), bool(spec.get("validateRequestBody"))


def _body_schema(op: Operation, api: ApiDefinition) -> Mapping[str, Any] | None:
    if api.swagger2:
        for p in op.parameters:
            if p.get("in") == "body" and isinstance(p.get("schema"), Mapping):
                return p["schema"]  # type: ignore[no-any-return]
        return None
    body = op.raw.get("requestBody")
    if not isinstance(body, Mapping):
        return None
    content = body.get("content") or {}
    media = content.get("application/json") if isinstance(content, Mapping) else None
    schema = media.get("schema") if isinstance(media, Mapping) else None
    return schema if isinstance(schema, Mapping) else None


def _compile(route: Route, api: ApiDefinition) -> _Rules | None:
    op = route.operation
    params, body = _validator_for(op, api)
    if not params and not body:
        return None
    required: list[tuple[str, str]] = []
    if params:
        for p in op.parameters:
            where = str(p.get("in"))
            if p.get("required") and where in _ORDER:
                required.append((where, str(p.get("name"))))
        required.sort(key=lambda item: _ORDER[item[0]])
    validator = None
    if body:
        schema = _body_schema(op, api)
        if schema is not None:
            definitions = dict(api.document.get("definitions") or {}) or dict(
                (api.document.get("components") or {}).get("schemas") or {})
            full = {**schema, "definitions": definitions} if definitions else dict(schema)
            try:
                jsonschema.Draft4Validator.check_schema(full)
            except jsonschema.SchemaError as exc:
                raise ConfigError(f"invalid request model: {exc.message}", file=str(api.source),
                                  line=op.line, key=f"paths.{op.path}.{op.method.lower()}"
                                  ) from None
            validator = jsonschema.Draft4Validator(full)
    return _Rules(tuple(required), validator)


class RequestValidator:
    """VALIDATE phase: 400 before the cache and the integration, as on AWS."""

    name = "validator"
    phase = Phase.VALIDATE
    priority = 0

    def __init__(self, rules: dict[int, _Rules]) -> None:
        self.rules = rules

    def run(self, ex: Exchange) -> Interruption | None:
        assert ex.route is not None
        rules = self.rules.get(id(ex.route.route))
        if rules is None:
            return None
        missing = [name for where, name in rules.required if not _present(ex, where, name)]
        if missing:
            return Interruption("BAD_REQUEST_PARAMETERS", source=self.name,
                                message=f"Missing required request parameters: "
                                        f"[{', '.join(missing)}]",
                                reason="required parameters missing")
        if rules.body is not None:
            problem = _body_problem(ex.request.body, rules.body)
            if problem is not None:
                ex.note(self.name, "invalid_body", error=problem)
                return Interruption("BAD_REQUEST_BODY", message="Invalid request body",
                                    source=self.name, reason=problem,
                                    details={"validation_error": problem})
        return None


def _present(ex: Exchange, where: str, name: str) -> bool:
    if where == "header":
        value = ex.request.headers.get(name)
    elif where == "query":
        value = next((v for k, v in ex.request.query_params if k == name), None)
    else:
        value = ex.route.path_params.get(name) if ex.route else None
    return value is not None and value.strip() != ""


def _body_problem(body: bytes, validator: jsonschema.protocols.Validator) -> str | None:
    try:
        doc = orjson.loads(body) if body else None
    except orjson.JSONDecodeError as exc:
        return f"body is not JSON: {exc}"
    error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
    if error is None:
        return None
    path = "/".join(str(p) for p in error.absolute_path)
    return f"{error.message}" + (f" (at /{path})" if path else "")


def validation_layer(ctx: GatewayContext) -> list[Stage]:
    rules: dict[int, _Rules] = {}
    for route in ctx.api.routes:
        compiled = _compile(route, ctx.api.definition)
        if compiled is not None:
            rules[id(route)] = compiled
    return [RequestValidator(rules)] if rules else []
