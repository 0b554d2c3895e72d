"""IAM users and roles with access keys and attached policies, loaded from a credentials file;
STS-style temporary credentials; key rotation by ``reload()`` without restart.

File format (YAML or JSON)::

    users:
      - name: alice
        account: "123456789012"
        tags: {team: pets}
        access_keys:
          - id: AKIAEXAMPLEALICE0001
            secret: "..."            # or secret_env: ALICE_SECRET
            status: Active           # Inactive keys are refused
        policies: [policies/read-pets.json, {Version: "2012-10-17", Statement: [...]}]
    roles:
      - name: PetAdmin
        account: "123456789012"
        max_session_seconds: 3600
        policies: [policies/admin.json]

Policy paths are relative to the credentials file. The store holds an immutable snapshot;
``reload()`` builds a new one and swaps it in one assignment, so readers never see half a file
(and a bad file leaves the old snapshot in place). Secrets are ``Secret`` values: they never
appear in a repr, str, log record or error message.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml

from bastion.auth.iam import Policy, RequestContext, load_policy_file, parse_policy
from bastion.auth.secret import Secret
from bastion.auth.sigv4 import ResolvedKey
from bastion.clock import Clock
from bastion.errors import ConfigError

__all__ = [
    "AccessKey",
    "CredentialStore",
    "Principal",
    "Secret",
    "TemporaryCredentials",
]

_ACCOUNT = re.compile(r"^\d{12}$")
_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
_KEY_ID = re.compile(r"^[A-Z0-9]{16,128}$")
_MAX_SESSIONS = 100_000
_MAX_FILE = 4 * 1_048_576


@dataclass(frozen=True, slots=True)
class Principal:
    """Who signed: ARN, account, name, userid, type, tags and identity policies."""

    arn: str
    account: str
    name: str
    userid: str
    type: Literal["User", "AssumedRole"]
    tags: Mapping[str, str] = field(default_factory=dict)
    policies: tuple[Policy, ...] = ()
    role_arn: str | None = None

    @property
    def username(self) -> str | None:
        """``aws:username`` exists only for IAM users."""
        return self.name if self.type == "User" else None

    def context(
        self, *, now: float, source_ip: str | None = None, secure_transport: bool | None = None,
        **extra: Any,
    ) -> RequestContext:
        """The global condition keys for a request made by this principal."""
        return RequestContext.for_request(
            now=now, source_ip=source_ip, secure_transport=secure_transport,
            principal_arn=self.arn, principal_account=self.account, principal_type=self.type,
            userid=self.userid, username=self.username, principal_tags=self.tags, **extra,
        )


@dataclass(frozen=True, slots=True)
class AccessKey:
    """A long-term access key of a user; ``active`` False refuses it."""

    id: str
    secret: Secret
    active: bool


@dataclass(frozen=True, slots=True)
class _Role:
    name: str
    account: str
    arn: str
    role_id: str
    tags: Mapping[str, str]
    policies: tuple[Policy, ...]
    max_session_seconds: int


@dataclass(frozen=True, slots=True)
class _Snapshot:
    keys: Mapping[str, tuple[AccessKey, Principal]]
    roles: Mapping[str, _Role]
    source: str


@dataclass(frozen=True, slots=True)
class TemporaryCredentials:
    """STS-style credentials for a role session; ``session_token`` must accompany requests."""

    access_key: str
    secret: Secret
    session_token: Secret
    expiration: float
    principal: Principal
    issued_at: float

    def as_dict(self) -> dict[str, object]:
        """The AWS CLI ``credential_process`` shape (secrets revealed: for the caller only)."""
        from datetime import UTC, datetime
        return {
            "Version": 1,
            "AccessKeyId": self.access_key,
            "SecretAccessKey": self.secret.reveal(),
            "SessionToken": self.session_token.reveal(),
            "Expiration": datetime.fromtimestamp(self.expiration, UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ"),
        }


def _unique_id(prefix: str, seed: str) -> str:
    digest = base64.b32encode(hashlib.sha256(seed.encode()).digest()).decode()
    return prefix + digest[:17]


class _Loader:
    """Turns the decoded file into a snapshot, collecting precise ConfigErrors."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = str(path)

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(message, file=self.file, key=key)

    def _str(self, obj: Mapping[str, Any], name: str, where: str, pattern: re.Pattern[str]
             ) -> str:
        value = obj.get(name)
        if not isinstance(value, str) or not pattern.match(value):
            raise self.fail(f"{where}.{name}", f"missing or invalid {name}: {value!r}")
        return value

    def _tags(self, obj: Mapping[str, Any], where: str) -> Mapping[str, str]:
        tags = obj.get("tags", {})
        if not isinstance(tags, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
            raise self.fail(f"{where}.tags", "tags must map strings to strings")
        return MappingProxyType(dict(tags))

    def _policies(self, obj: Mapping[str, Any], where: str) -> tuple[Policy, ...]:
        items = obj.get("policies", [])
        if not isinstance(items, list):
            raise self.fail(f"{where}.policies", "policies must be a list")
        out: list[Policy] = []
        for i, item in enumerate(items):
            name = f"{where}.policies[{i}]"
            if isinstance(item, str):
                try:
                    out.append(load_policy_file(self.path.parent / item, kind="identity"))
                except ConfigError as exc:
                    raise self.fail(name, exc.render()) from None
            elif isinstance(item, dict):
                out.append(parse_policy(item, name=f"{self.file}:{name}", kind="identity"))
            else:
                raise self.fail(name, "a policy is a file path or an inline policy document")
        return tuple(out)

    def _secret(self, obj: Mapping[str, Any], where: str) -> Secret:
        if "secret_env" in obj:
            env = obj["secret_env"]
            value = os.environ.get(env) if isinstance(env, str) else None
            if not value:
                raise self.fail(f"{where}.secret_env", f"environment variable {env!r} is unset")
            return Secret(value)
        value = obj.get("secret")
        if not isinstance(value, str) or len(value) < 8:
            raise self.fail(f"{where}.secret", "missing secret (at least 8 characters)")
        return Secret(value)

    def build(self, doc: object) -> _Snapshot:
        if doc is None:
            doc = {}
        if not isinstance(doc, dict):
            raise self.fail("<root>", "the credentials file must be a mapping")
        unknown = set(doc) - {"users", "roles"}
        if unknown:
            raise self.fail("<root>", f"unknown key(s): {', '.join(sorted(unknown))}")
        keys: dict[str, tuple[AccessKey, Principal]] = {}
        users = doc.get("users")
        users = [] if users is None else users
        if not isinstance(users, list):
            raise self.fail("users", "users must be a list")
        for i, user in enumerate(users):
            where = f"users[{i}]"
            if not isinstance(user, dict):
                raise self.fail(where, "a user must be a mapping")
            name = self._str(user, "name", where, _NAME)
            account = self._str(user, "account", where, _ACCOUNT)
            arn = f"arn:aws:iam::{account}:user/{name}"
            principal = Principal(
                arn=arn, account=account, name=name,
                userid=str(user.get("user_id") or _unique_id("AIDA", arn)), type="User",
                tags=self._tags(user, where), policies=self._policies(user, where),
            )
            raw_keys = user.get("access_keys", [])
            if not isinstance(raw_keys, list):
                raise self.fail(f"{where}.access_keys", "access_keys must be a list")
            for j, raw in enumerate(raw_keys):
                kw = f"{where}.access_keys[{j}]"
                if not isinstance(raw, dict):
                    raise self.fail(kw, "an access key must be a mapping")
                key_id = self._str(raw, "id", kw, _KEY_ID)
                status = raw.get("status", "Active")
                if status not in ("Active", "Inactive"):
                    raise self.fail(f"{kw}.status", "status must be Active or Inactive")
                if key_id in keys:
                    raise self.fail(f"{kw}.id", f"duplicate access key id {key_id}")
                keys[key_id] = (AccessKey(key_id, self._secret(raw, kw), status == "Active"),
                                principal)
        roles: dict[str, _Role] = {}
        raw_roles = doc.get("roles")
        raw_roles = [] if raw_roles is None else raw_roles
        if not isinstance(raw_roles, list):
            raise self.fail("roles", "roles must be a list")
        for i, role in enumerate(raw_roles):
            where = f"roles[{i}]"
            if not isinstance(role, dict):
                raise self.fail(where, "a role must be a mapping")
            name = self._str(role, "name", where, _NAME)
            account = self._str(role, "account", where, _ACCOUNT)
            max_s = role.get("max_session_seconds", 3600)
            if not isinstance(max_s, int) or not 900 <= max_s <= 43_200:
                raise self.fail(f"{where}.max_session_seconds", "must be 900..43200")
            if name in roles:
                raise self.fail(f"{where}.name", f"duplicate role {name}")
            arn = f"arn:aws:iam::{account}:role/{name}"
            roles[name] = _Role(name, account, arn, str(role.get("role_id") or _unique_id(
                "AROA", arn)), self._tags(role, where), self._policies(role, where), max_s)
        return _Snapshot(MappingProxyType(keys), MappingProxyType(roles), self.file)


def _read(path: Path) -> object:
    try:
        if path.stat().st_size > _MAX_FILE:
            raise ConfigError("credentials file is too large", file=str(path))
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read credentials: {exc.strerror or exc}",
                          file=str(path)) from None
    try:
        if path.suffix == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        raise ConfigError(f"cannot parse credentials: {type(exc).__name__}", file=str(path),
                          line=None if line is None else line + 1) from None


class CredentialStore:
    """Access keys -> principals; a ``KeyResolver`` for the SigV4 verifier.

    Long-term keys come from the file snapshot; temporary keys from ``issue_session`` (kept in
    memory, refused after expiry or when their role is gone after a reload).
    """

    __slots__ = ("_clock", "_lock", "_path", "_sessions", "_snapshot", "_stamp")

    def __init__(self, path: str | Path, clock: Clock) -> None:
        self._path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, TemporaryCredentials] = {}
        self._stamp = self._file_stamp()
        self._snapshot = _Loader(self._path).build(_read(self._path))

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = self._path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def __repr__(self) -> str:
        snap = self._snapshot
        return (f"CredentialStore({snap.source!r}, keys={len(snap.keys)}, "
                f"roles={len(snap.roles)}, sessions={len(self._sessions)})")

    def reload(self) -> None:
        """Re-read the file and swap the snapshot (rotation without restart).

        On any error the old snapshot stays in force and the ``ConfigError`` propagates.
        """
        stamp = self._file_stamp()
        self._snapshot = _Loader(self._path).build(_read(self._path))
        self._stamp = stamp

    def reload_if_changed(self) -> bool:
        """``reload()`` when the file's mtime or size changed (for a periodic watcher);
        returns True when a new snapshot was installed."""
        if self._file_stamp() == self._stamp:
            return False
        self.reload()
        return True

    def lookup(self, access_key: str) -> Principal | None:
        """The principal behind an access key (long-term or live temporary), or None."""
        resolved = self.resolve(access_key)
        if resolved is not None and resolved.expires_at is not None and (
                self._clock.time() >= resolved.expires_at):
            return None
        principal = resolved.principal if resolved is not None else None
        return principal if isinstance(principal, Principal) else None

    def resolve(self, access_key: str) -> ResolvedKey | None:
        """``KeyResolver`` for ``SigV4Verifier``: active keys and sessions of existing roles.

        A session past its expiry is still resolved (until purged) so the verifier can answer
        AWS's ``ExpiredTokenException`` instead of "invalid"; ``expires_at`` carries the expiry.
        """
        snap = self._snapshot
        found = snap.keys.get(access_key)
        if found is not None:
            key, principal = found
            return ResolvedKey(key.id, key.secret, principal) if key.active else None
        session = self._sessions.get(access_key)
        if session is None:
            return None
        role_arn = session.principal.role_arn
        role = next((r for r in snap.roles.values() if r.arn == role_arn), None)
        if role is None:
            return None
        return ResolvedKey(session.access_key, session.secret, session.principal,
                           session.session_token, session.expiration)

    def check_session_token(self, access_key: str, token: str) -> bool:
        """Constant-time check of a session token for a live temporary key."""
        resolved = self.resolve(access_key)
        return (resolved is not None and resolved.session_token is not None
                and resolved.expires_at is not None and self._clock.time() < resolved.expires_at
                and resolved.session_token.matches(token))

    def issue_session(
        self, role_name: str, session_name: str, *, duration: int = 3600,
    ) -> TemporaryCredentials:
        """Issue temporary credentials for ``role_name`` (STS AssumeRole style)."""
        role = self._snapshot.roles.get(role_name)
        if role is None:
            raise ConfigError(f"no role named {role_name!r}", file=self._snapshot.source)
        if not _NAME.match(session_name):
            raise ValueError("session name must be 1-64 characters of [\\w+=,.@-]")
        if not 900 <= duration <= role.max_session_seconds:
            raise ValueError(f"duration must be 900..{role.max_session_seconds} seconds")
        now = self._clock.time()
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
        access_key = "ASIA" + "".join(secrets.choice(alphabet) for _ in range(16))
        principal = Principal(
            arn=f"arn:aws:sts::{role.account}:assumed-role/{role.name}/{session_name}",
            account=role.account, name=session_name, userid=f"{role.role_id}:{session_name}",
            type="AssumedRole", tags=role.tags, policies=role.policies, role_arn=role.arn,
        )
        creds = TemporaryCredentials(
            access_key=access_key, secret=Secret(secrets.token_urlsafe(30)),
            session_token=Secret(secrets.token_urlsafe(96)), expiration=now + duration,
            principal=principal, issued_at=now,
        )
        with self._lock:
            self._purge(now)
            if len(self._sessions) >= _MAX_SESSIONS:
                raise ValueError("too many live sessions")
            self._sessions[access_key] = creds
        return creds

    def _purge(self, now: float) -> None:
        for key in [k for k, s in self._sessions.items() if s.expiration <= now]:
            del self._sessions[key]
