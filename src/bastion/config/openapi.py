"""OpenAPI 3 / Swagger 2 with ``x-amazon-apigateway-*`` extensions, read into neutral models.

This layer only reads and checks structure; the gateway compiles operations into routes and
integrations. Local ``$ref``s are resolved here so later layers never see one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bastion.config.reader import Problems, Section
from bastion.config.source import LocDict, load_document
from bastion.errors import ConfigError

__all__ = ["ANY_METHOD", "ApiDefinition", "Operation", "load_openapi", "resolve_refs"]

ANY_METHOD = "ANY"
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
_MAX_REF_DEPTH = 64


@dataclass(frozen=True, slots=True)
class Operation:
    method: str  # upper case, or "ANY" for x-amazon-apigateway-any-method
    path: str  # the template, e.g. /pets/{petId}
    raw: Mapping[str, Any]  # the operation object, refs resolved
    security: list[dict[str, list[str]]] | None  # effective (operation, else global)
    parameters: tuple[Mapping[str, Any], ...] = ()
    line: int | None = None

    @property
    def operation_id(self) -> str | None:
        value = self.raw.get("operationId")
        return value if isinstance(value, str) else None

    @property
    def integration(self) -> Mapping[str, Any] | None:
        value = self.raw.get("x-amazon-apigateway-integration")
        return value if isinstance(value, Mapping) else None


@dataclass(frozen=True, slots=True)
class ApiDefinition:
    source: Path
    swagger2: bool
    title: str
    operations: tuple[Operation, ...]
    security_schemes: Mapping[str, Any] = field(default_factory=dict)
    extensions: Mapping[str, Any] = field(default_factory=dict)  # top-level x-* keys
    document: Mapping[str, Any] = field(default_factory=dict)

    def extension(self, name: str, default: Any = None) -> Any:
        return self.extensions.get(name, default)


def resolve_refs(node: Any, doc: Mapping[str, Any], *, file: str, depth: int = 0,
                 seen: tuple[str, ...] = ()) -> Any:
    """Inline local ``$ref``s. Cycles are left as ``{"$ref": ...}`` (JSON Schema allows them)."""
    if depth > _MAX_REF_DEPTH:
        raise ConfigError("$ref nesting too deep", file=file)
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and len(node) == 1:
            if ref in seen:
                return node
            if not ref.startswith("#/"):
                raise ConfigError(f"only local $ref are supported, got {ref!r}", file=file,
                                  line=getattr(node, "line", None), key="$ref")
            target: Any = doc
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, Mapping) or part not in target:
                    raise ConfigError(f"$ref target not found: {ref}", file=file,
                                      line=getattr(node, "line", None), key="$ref")
                target = target[part]
            return resolve_refs(target, doc, file=file, depth=depth + 1, seen=(*seen, ref))
        out = LocDict((k, resolve_refs(v, doc, file=file, depth=depth + 1, seen=seen))
                      for k, v in node.items())
        out.line = getattr(node, "line", None)
        out.key_lines = getattr(node, "key_lines", {})
        return out
    if isinstance(node, list):
        return [resolve_refs(v, doc, file=file, depth=depth + 1, seen=seen) for v in node]
    return node


def load_openapi(path: Path) -> ApiDefinition:
    """Read an OpenAPI 3 or Swagger 2 file; every structural problem names file, line and key."""
    name = str(path)
    doc = load_document(path)
    problems = Problems()
    root = Section(doc, file=name, path="", problems=problems)
    swagger2 = root.has("swagger")
    if not swagger2 and not root.has("openapi"):
        root.error("not an OpenAPI document: needs an 'openapi' (3.x) or 'swagger' (2.0) key")
        problems.raise_if_any()
    version = str(root.raw("swagger" if swagger2 else "openapi"))
    if swagger2 and version != "2.0":
        root.error(f"unsupported Swagger version {version!r}", "swagger")
    if not swagger2 and not version.startswith("3."):
        root.error(f"unsupported OpenAPI version {version!r}", "openapi")
    info = root.section("info")
    title = info.get("title", str, "")
    global_security = root.raw("security")
    if swagger2:
        schemes = root.get("securityDefinitions", dict, {})
    else:
        schemes = root.section("components").get("securitySchemes", dict, {})
    extensions = {k: v for k, v in root.data.items() if k.startswith("x-")}

    ops: list[Operation] = []
    paths = root.section("paths")
    for tpl, item in paths.data.items():
        pline = paths.line(tpl)
        if not isinstance(tpl, str) or not tpl.startswith("/"):
            paths.error("a path must start with '/'", str(tpl))
            continue
        if not isinstance(item, dict):
            paths.error("must be a mapping of methods", tpl)
            continue
        try:
            item = resolve_refs(item, doc, file=name)
        except ConfigError as exc:
            problems.extend([exc])
            continue
        common = item.get("parameters") or []
        for key, op in item.items():
            low = key.lower()
            if low in ("parameters", "summary", "description", "servers") or low.startswith("x-") \
                    and low != "x-amazon-apigateway-any-method":
                continue
            if low not in _METHODS and low != "x-amazon-apigateway-any-method":
                problems.add(f"unknown HTTP method {key!r}", file=name,
                             line=item.key_line(key) if isinstance(item, LocDict) else pline,
                             key=f"paths.{tpl}.{key}")
                continue
            if not isinstance(op, dict):
                problems.add("must be a mapping", file=name, line=pline,
                             key=f"paths.{tpl}.{key}")
                continue
            method = ANY_METHOD if low == "x-amazon-apigateway-any-method" else low.upper()
            params = _merge_params(common, op.get("parameters") or [])
            security = op.get("security", global_security)
            ops.append(Operation(
                method=method, path=tpl, raw=op,
                security=list(security) if isinstance(security, list) else None,
                parameters=tuple(params),
                line=item.key_line(key) if isinstance(item, LocDict) else pline,
            ))
    # Read only for their presence; layers validate their own extensions.
    for key in list(root.data):
        root.raw(key)
    problems.raise_if_any()
    return ApiDefinition(
        source=path.resolve(), swagger2=swagger2, title=title, operations=tuple(ops),
        security_schemes=dict(schemes), extensions=extensions, document=doc,
    )


def _merge_params(common: list[Any], own: list[Any]) -> list[Mapping[str, Any]]:
    """Operation parameters override path-level ones with the same (name, in)."""
    merged: dict[tuple[str, str], Mapping[str, Any]] = {}
    for p in [*common, *own]:
        if isinstance(p, Mapping):
            merged[(str(p.get("name")), str(p.get("in")))] = p
    return list(merged.values())
