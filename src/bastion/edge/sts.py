"""The gateway's credential endpoint: an STS-like AssumeRole for its edges.

``POST /_bastion/sts/assume-role`` with ``{"RoleName", "RoleSessionName", "DurationSeconds"}``
answers STS's AssumeRole result (``Credentials``: AccessKeyId, SecretAccessKey, SessionToken,
Expiration; ``AssumedRoleUser``), issued by the same ``CredentialStore`` the AWS_IAM stage
verifies with, so the edge's signatures are checked against the role's policies. The caller
proves itself with a bootstrap token (``Authorization: Bearer``, compared in constant time,
never logged; two may be configured while one is rotated) or with its TLS client certificate
(``mtls: true`` on a server run with ``--client-ca``). Every issued credential goes to the
audit trail (or the log when there is none).

It runs in the CONNECTION phase, before the Web ACL and routing: the endpoint is not an API
route and no authorizer or usage plan applies to it.

Config (``credentials:`` in the gateway's bastion.yaml)::

    credentials:
      roles: [edge-signer]                  # roles this endpoint may issue (in auth.credentials)
      duration_s: 900                       # default lifetime (the role's 900..max range)
      bootstrap_token_env: [EDGE_TOKEN, EDGE_TOKEN_NEXT]   # or one name; or bootstrap_token_file
      mtls: false                           # accept a verified client certificate instead
      allowed_sources: [10.0.0.0/8]         # optional: only these peers may call
      path: /_bastion/sts/assume-role
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bastion.auth.credentials import CredentialStore, TemporaryCredentials
from bastion.auth.secret import Secret
from bastion.config import Problems, Section
from bastion.gateway.gateway import GatewayContext
from bastion.pipeline import Exchange, Interruption, Phase

__all__ = ["MTLS_ENV", "AssumeRoleStage", "StsSettings", "TokenSet"]

log = logging.getLogger("bastion.edge.sts")

DEFAULT_PATH = "/_bastion/sts/assume-role"
MTLS_ENV = "BASTION_MTLS_CLIENT_CA"  # set by `bastion serve --client-ca`
_MAX_TOKENS = 8


class TokenSet:
    """Bootstrap tokens from environment variables and/or a file (one per line, re-read when
    it changes). ``match`` compares against every token in constant time."""

    def __init__(self, env_names: Sequence[str], file: Path | None) -> None:
        self._env = [Secret(v) for v in (os.environ.get(n, "") for n in env_names) if v]
        self._file = file
        self._stamp: tuple[int, int] | None = None
        self._from_file: list[Secret] = []
        self._reload()

    def __repr__(self) -> str:
        return f"TokenSet({len(self._tokens())} tokens)"

    def _reload(self) -> None:
        if self._file is None:
            return
        try:
            st = self._file.stat()
            stamp = (st.st_mtime_ns, st.st_size)
            if stamp == self._stamp:
                return
            lines = self._file.read_text(encoding="utf-8").splitlines()
        except OSError:
            log.warning("cannot read the bootstrap token file %s", self._file)
            return
        self._from_file = [Secret(s.strip()) for s in lines if s.strip()][:_MAX_TOKENS]
        self._stamp = stamp

    def _tokens(self) -> list[Secret]:
        return self._env + self._from_file

    def __len__(self) -> int:
        return len(self._tokens())

    def match(self, presented: str) -> int | None:
        """The 1-based index of the token ``presented`` equals, or None (all compared)."""
        self._reload()
        given = hashlib.sha256(presented.encode()).digest()
        found: int | None = None
        for i, token in enumerate(self._tokens(), 1):
            want = hashlib.sha256(token.reveal().encode()).digest()
            if hmac.compare_digest(given, want) and found is None:
                found = i
        return found


@dataclass(frozen=True, slots=True)
class StsSettings:
    path: str
    roles: tuple[str, ...]
    duration_s: int
    tokens: TokenSet
    mtls: bool
    allowed_sources: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    @classmethod
    def parse(cls, data: Any, *, file: str, base: Path) -> StsSettings:
        problems = Problems()
        sec = Section(data, file=file, path="credentials", problems=problems)
        path = sec.get("path", str, DEFAULT_PATH)
        if not path.startswith("/_bastion/"):
            sec.error("must start with /_bastion/", "path")
        roles = tuple(str(r) for r in sec.require("roles", list, []))
        if not roles:
            sec.error("name at least one role (from auth.credentials)", "roles")
        duration = sec.get("duration_s", int, 900)
        raw_env = sec.raw("bootstrap_token_env")
        env_names = [raw_env] if isinstance(raw_env, str) else (
            [str(n) for n in raw_env] if isinstance(raw_env, list) else [])
        if raw_env is not None and not env_names:
            sec.error("must be an environment variable name or a list of them",
                      "bootstrap_token_env")
        for name in env_names:
            if not os.environ.get(name):
                sec.error(f"environment variable {name!r} is unset or empty",
                          "bootstrap_token_env")
        token_file = sec.get("bootstrap_token_file", str, "")
        tfile = (base / token_file) if token_file else None
        if tfile is not None and not tfile.is_file():
            sec.error(f"file not found: {tfile}", "bootstrap_token_file")
        mtls = sec.get("mtls", bool, False)
        sources: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for _, item in sec.items("allowed_sources"):
            try:
                sources.append(ipaddress.ip_network(str(item), strict=False))
            except ValueError:
                sec.error(f"not an IP address or CIDR: {item!r}", "allowed_sources")
        if not env_names and tfile is None and not mtls:
            sec.error("configure bootstrap_token_env, bootstrap_token_file or mtls: true "
                      "(the endpoint never runs unauthenticated)")
        sec.done()
        problems.raise_if_any()
        return cls(path, roles, duration, TokenSet(env_names, tfile), mtls, tuple(sources))


def _forwarded(get: Callable[[str], str | None]) -> bool:
    return any(get(h) is not None for h in ("x-forwarded-for", "forwarded", "via"))


def _error(status: int, code: str, message: str, reason: str) -> Interruption:
    body = orjson.dumps({"Error": {"Type": "Sender", "Code": code, "Message": message}})
    return Interruption("STS_ERROR", status=status, body=body, error_type=code,
                        source="sts", reason=reason)


class AssumeRoleStage:
    """Answers the credential endpoint's path; every other request passes untouched."""

    name = "sts"
    phase = Phase.CONNECTION
    priority = 1000

    def __init__(self, ctx: GatewayContext, settings: StsSettings,
                 store: CredentialStore) -> None:
        self.ctx = ctx
        self.settings = settings
        self.store = store
        self.path = settings.path

    def _authenticate(self, ex: Exchange) -> str | None:
        """How the caller proved itself ("token#N" or "mtls"), or None."""
        req = ex.request
        auth = req.headers.get("authorization") or ""
        scheme, _, presented = auth.partition(" ")
        if scheme.lower() == "bearer" and presented.strip():
            index = self.settings.tokens.match(presented.strip())
            if index is not None:
                return f"token#{index}"
            return None
        if self.settings.mtls and req.scheme == "https" and os.environ.get(MTLS_ENV) and \
                not _forwarded(req.headers.get):
            # a forwarded request arrives on its proxy's certificate, not the caller's own
            return "mtls"
        return None

    def run(self, ex: Exchange) -> Interruption | None:
        req = ex.request
        if req.raw_path != self.path:
            return None
        if req.method != "POST":
            return _error(405, "InvalidAction", "Use POST.", "method not allowed")
        if self.settings.allowed_sources:
            try:
                peer = ipaddress.ip_address(req.client_ip)
            except ValueError:
                peer = None
            if peer is None or not any(peer in n for n in self.settings.allowed_sources):
                return _error(403, "AccessDenied", "Access denied.", "source not allowed")
        how = self._authenticate(ex)
        if how is None:
            return _error(403, "AccessDenied", "Access denied.", "bad or missing credentials")
        try:
            doc = orjson.loads(req.body or b"{}")
            if not isinstance(doc, dict):
                raise ValueError
        except (orjson.JSONDecodeError, ValueError):
            return _error(400, "ValidationError", "The request body must be a JSON object.",
                          "bad body")
        role = str(doc.get("RoleName") or self.settings.roles[0])
        session = str(doc.get("RoleSessionName") or "edge")
        duration = doc.get("DurationSeconds", self.settings.duration_s)
        if role not in self.settings.roles:
            return _error(403, "AccessDenied", f"Not authorized to assume role {role}.",
                          "role not offered")
        if not isinstance(duration, int) or isinstance(duration, bool):
            return _error(400, "ValidationError", "DurationSeconds must be an integer.",
                          "bad duration")
        try:
            creds = self.store.issue_session(role, session, duration=duration)
        except ValueError as exc:
            return _error(400, "ValidationError", str(exc), "issue_session refused")
        except Exception:
            log.exception("issuing a session for role %s failed", role)
            return _error(500, "InternalFailure", "Credentials could not be issued.",
                          "issue failed")
        self._audit(ex, creds, how)
        issued = creds.as_dict()
        issued.pop("Version", None)  # the credential_process shape's; AssumeRole has none
        body = orjson.dumps({
            "Credentials": issued,
            "AssumedRoleUser": {"Arn": creds.principal.arn,
                                "AssumedRoleId": creds.principal.userid},
        })
        return Interruption("STS_ASSUME_ROLE", status=200, body=body, error_type="",
                            headers=(("Cache-Control", "no-store"),), source="sts",
                            reason=f"issued {creds.access_key} for {creds.principal.arn}")

    def _audit(self, ex: Exchange, creds: TemporaryCredentials, how: str) -> None:
        fields: dict[str, Any] = {
            "role_arn": creds.principal.role_arn, "session_arn": creds.principal.arn,
            "access_key_id": creds.access_key, "expiration": creds.expiration,
            "source_ip": ex.request.client_ip, "authenticated_by": how,
            "request_id": ex.request_id}
        audit = self.ctx.resources.get("audit")
        emit = getattr(audit, "emit", None)
        if callable(emit):
            emit("AssumeRole", **fields)
            return
        event = getattr(audit, "event", None)
        if callable(event):  # the CloudTrail-style trail (bastion.observe.audit)
            from bastion.observe.audit.records import UserIdentity

            event("AssumeRole", UserIdentity(type="Unknown", principal_id=how),
                  event_source="sts.bastion.local", source_ip=ex.request.client_ip,
                  request_id=ex.request_id,
                  request_parameters={"roleArn": creds.principal.role_arn,
                                      "roleSessionName": creds.principal.name},
                  response_elements={"credentials": {"accessKeyId": creds.access_key,
                                                     "expiration": creds.expiration},
                                     "assumedRoleUser": {"arn": creds.principal.arn}})
            return
        log.info("credential issued: %s", " ".join(f"{k}={v}" for k, v in fields.items()))

