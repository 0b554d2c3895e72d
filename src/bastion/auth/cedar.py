"""Cedar authorization in the style of Amazon Verified Permissions, with ``cedarpy``.

A ``CedarPolicyStore`` is policies + optional schema + static entities, loaded from files and
validated at load: a policy that does not parse, or does not validate against the schema, is a
``ConfigError`` naming its file and line (never a 500 at request time).

``CedarAuthorizer`` maps one request to an ``is_authorized`` call the way the AVP API-linked
authorizer does (gateway-semantics.md §7.2):

* principal: ``NS::User::"<sub>"`` from token claims (groups claim -> ``NS::UserGroup`` parents,
  selected claims -> attributes), or ``NS::IAMPrincipal::"<arn>"`` for a SigV4 caller;
* action: ``NS::Action::"<verb lower-case> <route template>"``, e.g. ``"get /pets/{petId}"``;
* resource: ``NS::<Type>::"<path parameter>"`` per route (``NS::Application::"<api>"`` when the
  route names none); its attributes come from the entities file or an ``entity_provider``;
* context: selected headers, claims and the source IP.

Allow -> ok. Deny -> 403 ``AccessDeniedException`` with the body AVP's Lambda authorizer produces
(its policy denies: ``User is not authorized to access this resource with an explicit deny``).
No decision (entities or context not matching the schema) -> 500, as an authorizer failure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cedarpy

from bastion.auth.outcome import AuthOutcome, allowed, authorizer_error, explicit_deny
from bastion.auth.request import AuthRequest
from bastion.auth.trace import Tracer
from bastion.errors import ConfigError, ConfigErrors

__all__ = ["CedarAuthorizer", "CedarMapping", "CedarPolicyStore", "split_policies"]

EntityProvider = Callable[[str, str], Mapping[str, Any] | None]


@dataclass(frozen=True, slots=True)
class _Chunk:
    text: str
    file: str
    line: int


def split_policies(text: str, file: str = "<policies>") -> list[_Chunk]:
    """Split Cedar text into one chunk per policy (at ``;`` outside strings and comments),
    remembering the line each policy starts on; cedarpy numbers them ``policy0``, ``policy1``..."""
    chunks: list[_Chunk] = []
    buf: list[str] = []
    start_line: int | None = None
    line = 1
    i, n = 0, len(text)
    in_str = False
    while i < n:
        c = text[i]
        if in_str:
            buf.append(c)
            if c == "\\" and i + 1 < n:
                buf.append(text[i + 1])
                i += 1
            elif c == '"':
                in_str = False
            elif c == "\n":
                line += 1
        elif c == "/" and text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            buf.append(" " * (j - i))
            i = j
            continue
        else:
            if c == "\n":
                line += 1
            elif not c.isspace() and start_line is None:
                start_line = line
            if c == '"':
                in_str = True
            buf.append(c)
            if c == ";":
                chunks.append(_Chunk("".join(buf).strip(), file, start_line or line))
                buf, start_line = [], None
        i += 1
    rest = "".join(buf).strip()
    if rest:
        chunks.append(_Chunk(rest, file, start_line or line))
    return chunks


_ID_ANNOTATION = re.compile(r'@id\s*\(\s*"((?:[^"\\]|\\.)*)"\s*\)')


def _id_suffix(text: str) -> str:
    m = _ID_ANNOTATION.search(text)
    return f" @id {m.group(1)}" if m else ""


@dataclass(frozen=True, slots=True)
class CedarPolicyStore:
    """Validated policies (parsed once), schema and static entities; ``where`` maps cedarpy's
    ``policyN`` ids to ``file:line`` for traces."""

    policy_set: Any
    policy_text: str
    schema: str | None
    entities: tuple[Mapping[str, Any], ...]
    where: Mapping[str, str]

    @classmethod
    def from_text(cls, policies: Sequence[tuple[str, str]], *, schema: str | None = None,
                  entities: Sequence[Mapping[str, Any]] = ()) -> CedarPolicyStore:
        """``policies`` is ``[(file_name, cedar_text), ...]``; raises ``ConfigErrors``."""
        chunks = [c for name, text in policies for c in split_policies(text, name)]
        errors: list[ConfigError] = []
        for c in chunks:
            try:
                cedarpy.PolicySet.from_str(c.text)
            except ValueError as e:
                errors.append(ConfigError(f"Cedar policy does not parse: {e}", file=c.file,
                                          line=c.line))
        if errors:
            raise ConfigErrors(errors)
        where = {f"policy{i}": f"{c.file}:{c.line}" + _id_suffix(c.text)
                 for i, c in enumerate(chunks)}
        text = "\n".join(c.text for c in chunks)
        if schema is not None:
            try:
                cedarpy.Schema.from_json_str(schema) if schema.lstrip().startswith("{") \
                    else cedarpy.Schema.from_str(schema)
            except ValueError as e:
                raise ConfigError(f"Cedar schema does not parse: {e}", key="schema") from None
            result = cedarpy.validate_policies(text, schema)
            for err in result.errors:
                idx = int(err.policy_id[6:]) if err.policy_id.startswith("policy") \
                    and err.policy_id[6:].isdigit() else None
                ch = chunks[idx] if idx is not None and idx < len(chunks) else None
                errors.append(ConfigError(f"Cedar policy fails schema validation: {err.error}",
                                          file=ch.file if ch else None,
                                          line=ch.line if ch else None))
            if errors:
                raise ConfigErrors(errors)
            try:
                cedarpy.Entities.from_json_str(json.dumps(list(entities)), schema=schema)
            except ValueError as e:
                raise ConfigError(f"entities do not match the schema: {e}", key="entities") \
                    from None
        return cls(cedarpy.PolicySet.from_str(text), text, schema, tuple(entities), where)

    @classmethod
    def load(cls, policy_files: Iterable[str | Path], *, schema_file: str | Path | None = None,
             entities_file: str | Path | None = None) -> CedarPolicyStore:
        """From ``.cedar`` files, a schema (``.json`` or Cedar syntax) and an entities JSON."""
        pols = [(str(p), Path(p).read_text(encoding="utf-8")) for p in policy_files]
        schema = Path(schema_file).read_text(encoding="utf-8") if schema_file else None
        ents: list[Mapping[str, Any]] = []
        if entities_file:
            try:
                raw = json.loads(Path(entities_file).read_text(encoding="utf-8"))
            except ValueError as e:
                raise ConfigError(f"entities are not JSON: {e}", file=str(entities_file)) \
                    from None
            if not isinstance(raw, list):
                raise ConfigError("entities must be a JSON list", file=str(entities_file))
            ents = raw
        return cls.from_text(pols, schema=schema, entities=ents)


@dataclass(frozen=True, slots=True)
class CedarMapping:
    """How a request becomes a Cedar request. ``resources`` maps a route template to
    ``(entity type, path parameter)``; ``principal_attributes``/``context_claims`` map a Cedar
    attribute name to a claim, ``context_headers`` an attribute name to a header."""

    namespace: str
    principal_type: str = "User"
    group_type: str = "UserGroup"
    iam_principal_type: str = "IAMPrincipal"
    principal_claim: str = "sub"
    group_claim: str = "cognito:groups"
    principal_attributes: Mapping[str, str] = field(default_factory=dict)
    resources: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    application_type: str = "Application"
    context_headers: Mapping[str, str] = field(default_factory=dict)
    context_claims: Mapping[str, str] = field(default_factory=dict)
    context_source_ip: str | None = None


def _uid(t: str, i: str) -> dict[str, str]:
    return {"type": t, "id": i}


def _euid(t: str, i: str) -> str:
    return f"{t}::{json.dumps(i)}"


class CedarAuthorizer:
    """``authorize(req, claims=..., sigv4_arn=...)`` -> ``AuthOutcome``."""

    def __init__(self, store: CedarPolicyStore, mapping: CedarMapping, *,
                 entity_provider: EntityProvider | None = None) -> None:
        self.store = store
        self.mapping = mapping
        self.entity_provider = entity_provider

    def _t(self, name: str) -> str:
        return f"{self.mapping.namespace}::{name}" if self.mapping.namespace else name

    def build(self, req: AuthRequest, claims: Mapping[str, Any] | None,
              sigv4_arn: str | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The Cedar request and the per-request entities (principal, groups, resource)."""
        m = self.mapping
        claims = claims or {}
        ents: list[dict[str, Any]] = []
        if sigv4_arn:
            ptype, pid, parents, attrs = self._t(m.iam_principal_type), sigv4_arn, [], {}
        else:
            ptype = self._t(m.principal_type)
            pid = str(claims.get(m.principal_claim, "anonymous"))
            groups = claims.get(m.group_claim) or []
            if isinstance(groups, str):
                groups = [g for g in groups.replace(",", " ").split() if g]
            parents = [_uid(self._t(m.group_type), str(g)) for g in groups]
            attrs = {a: claims[c] for a, c in m.principal_attributes.items() if c in claims}
            ents.extend({"uid": p, "attrs": {}, "parents": []} for p in parents)
        ents.append({"uid": _uid(ptype, pid), "attrs": attrs, "parents": parents})
        action = _euid(self._t("Action"), f"{req.method.lower()} {req.resource or req.path}")
        spec = m.resources.get(req.resource)
        if spec is not None and spec[1] in req.path_params:
            rtype, rid = self._t(spec[0]), req.path_params[spec[1]]
        else:
            rtype, rid = self._t(m.application_type), req.api_id
        if self.entity_provider is not None:
            found = self.entity_provider(rtype, rid)
            if found is not None:
                ents.append(dict(found))
        ctx: dict[str, Any] = {}
        for attr, header in m.context_headers.items():
            v = req.header(header)
            if v is not None:
                ctx[attr] = v
        for attr, claim in m.context_claims.items():
            if claim in claims:
                ctx[attr] = claims[claim]
        if m.context_source_ip:
            ctx[m.context_source_ip] = req.source_ip
        request = {"principal": _euid(ptype, pid), "action": action,
                   "resource": _euid(rtype, rid), "context": ctx}
        return request, ents

    def authorize(self, req: AuthRequest, *, claims: Mapping[str, Any] | None = None,
                  sigv4_arn: str | None = None) -> AuthOutcome:
        tr = Tracer("auth.cedar")
        request, ents = self.build(req, claims, sigv4_arn)
        known = {(e["uid"]["type"], e["uid"]["id"]) for e in ents}
        entities = ents + [dict(e) for e in self.store.entities
                           if (e["uid"]["type"], e["uid"]["id"]) not in known]
        tr.add("authorizer.run", type="cedar", principal=request["principal"],
               action=request["action"], resource=request["resource"],
               context_keys=sorted(request["context"]))
        res = cedarpy.is_authorized(request, self.store.policy_set, entities,
                                    schema=self.store.schema)
        reasons = [f"{r} ({self.store.where.get(r, '?')})" for r in res.diagnostics.reasons]
        errors = list(res.diagnostics.errors)
        tr.add("cedar.decision", decision=str(res.decision.value), policies=reasons,
               errors=errors[:5])
        if res.decision == cedarpy.Decision.Allow:
            out = allowed(principal=request["principal"],
                          context={"cedarDeterminingPolicies": ",".join(res.diagnostics.reasons)})
        elif res.decision == cedarpy.Decision.Deny:
            why = (f"forbidden by {', '.join(reasons)}" if reasons
                   else "no Cedar policy permits this request (default deny)")
            out = explicit_deny("cedar_deny", f"{request['action']} on {request['resource']} "
                                f"for {request['principal']}: {why}")
        else:
            out = authorizer_error("cedar_error", "Cedar could not decide: "
                                   + "; ".join(errors[:3]))
        tr.add("decision", allow=out.ok, status=out.status, code=out.reason_code,
               reason=out.reason)
        return out.with_trace(tr.events)
