"""API keys (hashed at rest) and usage plans (throttle + quota), as API Gateway enforces them.

Keys: 20-128 alphanumeric characters (AGW:api-gateway-api-usage-plans), generated with
``secrets``; the store file keeps only ``HMAC-SHA256(store_salt, key)`` plus a 4-character
prefix for humans, so a leaked file does not leak usable keys. A lookup hashes the presented key,
finds the record by digest and confirms with ``hmac.compare_digest``.

Usage plans: ``throttle`` (``rateLimit`` requests/second, float, and ``burstLimit``: a token
bucket), per-method overrides in ``apiStages[].throttle["/path/GET"]``, and ``quota`` (``limit``
per ``DAY``/``WEEK``/``MONTH``, resetting at UTC period boundaries; weeks start Monday). AWS
documents ``quota.offset`` both as "requests subtracted from the limit in the initial period"
(API reference) and as "the day a period starts" (SDK docs); Bastion implements the former when
the plan has a ``createdDate``, and ignores ``offset`` otherwise. Counters live in
``bastion.state`` (memory by default, Redis when scaled out).

Failures (gateway-semantics.md §1.3): missing/unknown/disabled key or key not in a plan for this
stage -> 403 ``{"message":"Forbidden"}``; throttled -> 429 ``Too Many Requests``; quota
exhausted -> 429 ``Limit Exceeded``.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import string
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from bastion.auth.outcome import (
    AuthOutcome,
    allowed,
    forbidden,
    limit_exceeded,
    too_many_requests,
)
from bastion.auth.trace import Tracer, mask
from bastion.clock import Clock, SystemClock
from bastion.errors import ConfigError
from bastion.state import Feature, GuardedStorage, Period, Storage, period_end, period_start

__all__ = [
    "ApiKeyRecord",
    "ApiKeyStore",
    "AuditHook",
    "Quota",
    "Throttle",
    "UsagePlan",
    "UsagePlanEnforcer",
    "generate_key",
    "presented_key",
]

_ALPHABET = string.ascii_letters + string.digits
_KEY_RE = re.compile(r"[A-Za-z0-9]{20,128}")
KEY_LENGTH = 40
AuditHook = Callable[[Mapping[str, Any]], None]


def generate_key(length: int = KEY_LENGTH) -> str:
    """A fresh alphanumeric API key from ``secrets`` (40 chars: ~238 bits)."""
    if not 20 <= length <= 128:
        raise ValueError("API keys are 20-128 characters")
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def presented_key(source: str, *, header: str | None,
                  authorizer: AuthOutcome | None = None) -> str | None:
    """The key to check under ``x-amazon-apigateway-api-key-source``: ``HEADER`` (the
    ``x-api-key`` value) or ``AUTHORIZER`` (the custom authorizer's ``usageIdentifierKey``)."""
    if source.upper() == "AUTHORIZER":
        return authorizer.usage_identifier_key if authorizer is not None else None
    if source.upper() != "HEADER":
        raise ValueError(f"apiKeySource must be HEADER or AUTHORIZER, not {source!r}")
    return header


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """One key as stored: never the key itself."""

    id: str
    name: str
    digest: str
    prefix: str
    enabled: bool
    created_at: float
    updated_at: float
    plans: tuple[str, ...] = ()
    description: str = ""

    def public(self) -> dict[str, Any]:
        """What ``keys list`` shows (no digest)."""
        return {"id": self.id, "name": self.name, "prefix": self.prefix + "…",
                "enabled": self.enabled, "plans": list(self.plans),
                "created_at": self.created_at, "updated_at": self.updated_at,
                "description": self.description}


class ApiKeyStore:
    """A JSON or YAML file of hashed keys (chosen by suffix), written atomically with mode 0600.

    Every change calls ``audit`` (if given) with ``{"action", "key_id", "name", "at"}`` and
    never the key value.
    """

    def __init__(self, path: str | Path, *, clock: Clock | None = None,
                 audit: AuditHook | None = None) -> None:
        self.path = Path(path)
        self.clock = clock or SystemClock()
        self.audit = audit
        self._salt = b""
        self._records: dict[str, ApiKeyRecord] = {}
        self._by_digest: dict[str, str] = {}
        self._stamp: tuple[int, int] | None = None
        if self.path.exists():
            self._load()
        else:
            self._salt = secrets.token_bytes(32)

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def refresh(self) -> bool:
        """Reload if the file changed on disk (a ``bastion keys`` run); True when reloaded.
        A running gateway calls this periodically so rotate/disable take effect."""
        stamp = self._file_stamp()
        if stamp is None or stamp == self._stamp:
            return False
        self._load()
        return True

    @contextmanager
    def _mutation(self) -> Iterator[None]:
        """Serialize writers (an advisory lock file), starting from the file's latest state."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                self.refresh()
                yield
                self.save()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    # -- persistence -------------------------------------------------------------------------
    def _yaml(self) -> bool:
        return self.path.suffix in (".yaml", ".yml")

    def _load(self) -> None:
        stamp = self._file_stamp()
        text = self.path.read_text(encoding="utf-8")
        records: dict[str, ApiKeyRecord] = {}
        by_digest: dict[str, str] = {}
        try:
            doc = yaml.safe_load(text) if self._yaml() else json.loads(text)
        except (ValueError, yaml.YAMLError) as e:
            raise ConfigError(f"unreadable key store: {type(e).__name__}", file=str(self.path)) \
                from None
        if not isinstance(doc, dict) or doc.get("version") != 1:
            raise ConfigError("not a Bastion API key store (version 1)", file=str(self.path))
        try:
            salt = bytes.fromhex(str(doc["salt"]))
            for i, raw in enumerate(doc.get("keys") or []):
                rec = ApiKeyRecord(**{**raw, "plans": tuple(raw.get("plans") or ())})
                if rec.id in records or rec.digest in by_digest:
                    raise ConfigError(f"duplicate key id or digest at keys[{i}]",
                                      file=str(self.path))
                records[rec.id] = rec
                by_digest[rec.digest] = rec.id
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"malformed key store: {type(e).__name__}: {e}",
                              file=str(self.path)) from None
        if len(salt) < 16:
            raise ConfigError("key store salt is too short", file=str(self.path))
        self._salt, self._records, self._by_digest = salt, records, by_digest
        self._stamp = stamp

    def save(self) -> None:
        doc = {"version": 1, "hash": "hmac-sha256", "salt": self._salt.hex(),
               "keys": [{**asdict(r), "plans": list(r.plans)} for r in self._records.values()]}
        text = (yaml.safe_dump(doc, sort_keys=False) if self._yaml()
                else json.dumps(doc, indent=2) + "\n")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".keys-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, self.path)
            self._stamp = self._file_stamp()
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # -- hashing -----------------------------------------------------------------------------
    def _digest(self, value: str) -> str:
        return hmac.new(self._salt, value.encode("utf-8"), hashlib.sha256).hexdigest()

    def _audit(self, action: str, rec: ApiKeyRecord) -> None:
        if self.audit is not None:
            self.audit({"action": action, "key_id": rec.id, "name": rec.name,
                        "at": self.clock.time(), "store": str(self.path)})

    # -- operations --------------------------------------------------------------------------
    def records(self) -> list[ApiKeyRecord]:
        return sorted(self._records.values(), key=lambda r: (r.created_at, r.id))

    def get(self, key_id: str) -> ApiKeyRecord:
        try:
            return self._records[key_id]
        except KeyError:
            raise KeyError(f"no API key with id {key_id!r}") from None

    def lookup(self, value: str) -> ApiKeyRecord | None:
        """The record for a presented key, or None (constant-time confirmation)."""
        if not _KEY_RE.fullmatch(value):
            return None
        digest = self._digest(value)
        key_id = self._by_digest.get(digest)
        if key_id is None:
            return None
        rec = self._records[key_id]
        return rec if hmac.compare_digest(rec.digest, digest) else None

    def create(self, name: str, *, plans: Iterable[str] = (), value: str | None = None,
               description: str = "") -> tuple[ApiKeyRecord, str]:
        """Add a key; returns the record and the key value (shown once, never stored)."""
        if not name or len(name) > 1024:
            raise ValueError("a key name is 1-1024 characters")
        value = value if value is not None else generate_key()
        if not _KEY_RE.fullmatch(value):
            raise ValueError("an API key value is 20-128 alphanumeric characters")
        with self._mutation():
            digest = self._digest(value)
            if digest in self._by_digest:
                raise ValueError("that key value is already in the store")
            now = self.clock.time()
            key_id = secrets.token_hex(5)
            while key_id in self._records:
                key_id = secrets.token_hex(5)
            rec = ApiKeyRecord(key_id, name, digest, value[:4], True, now, now,
                               tuple(plans), description)
            self._records[key_id] = rec
            self._by_digest[digest] = key_id
        self._audit("create", rec)
        return rec, value

    def rotate(self, key_id: str, *, value: str | None = None) -> tuple[ApiKeyRecord, str]:
        """Replace a key's value (the old one stops working at once); returns the new value."""
        value = value if value is not None else generate_key()
        if not _KEY_RE.fullmatch(value):
            raise ValueError("an API key value is 20-128 alphanumeric characters")
        with self._mutation():
            old = self.get(key_id)
            digest = self._digest(value)
            if digest in self._by_digest:
                raise ValueError("that key value is already in the store")
            rec = replace(old, digest=digest, prefix=value[:4], updated_at=self.clock.time())
            del self._by_digest[old.digest]
            self._records[key_id] = rec
            self._by_digest[digest] = key_id
        self._audit("rotate", rec)
        return rec, value

    def set_enabled(self, key_id: str, enabled: bool) -> ApiKeyRecord:
        with self._mutation():
            rec = replace(self.get(key_id), enabled=enabled, updated_at=self.clock.time())
            self._records[key_id] = rec
        self._audit("enable" if enabled else "disable", rec)
        return rec

    def set_plans(self, key_id: str, plans: Iterable[str]) -> ApiKeyRecord:
        with self._mutation():
            rec = replace(self.get(key_id), plans=tuple(plans), updated_at=self.clock.time())
            self._records[key_id] = rec
        self._audit("associate", rec)
        return rec


# -- usage plans -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Throttle:
    rate_limit: float
    burst_limit: int

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str) -> Throttle:
        try:
            rate, burst = float(d["rateLimit"]), d["burstLimit"]
        except (KeyError, TypeError, ValueError):
            raise ConfigError("throttle needs rateLimit (number) and burstLimit", key=where) \
                from None
        if not isinstance(burst, int) or burst < 0 or rate < 0:
            raise ConfigError("rateLimit and burstLimit must be >= 0 (burstLimit an integer)",
                              key=where)
        return cls(rate, burst)


@dataclass(frozen=True, slots=True)
class Quota:
    limit: int
    period: Period
    offset: int = 0

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str) -> Quota:
        limit, period, offset = d.get("limit"), d.get("period"), d.get("offset", 0)
        if not isinstance(limit, int) or limit < 0:
            raise ConfigError("quota.limit must be an integer >= 0", key=where)
        if period not in ("DAY", "WEEK", "MONTH"):
            raise ConfigError("quota.period must be DAY, WEEK or MONTH", key=where)
        if not isinstance(offset, int) or not 0 <= offset <= limit:
            raise ConfigError("quota.offset must be an integer within 0..limit", key=where)
        return cls(limit, period, offset)


@dataclass(frozen=True, slots=True)
class UsagePlan:
    """An AWS ``UsagePlan``: ``stages`` maps ``"apiId/stage"`` (or ``"stage"``) to per-method
    throttle overrides keyed ``"/path/GET"`` (``"/*/*"`` for all)."""

    id: str
    name: str = ""
    stages: Mapping[str, Mapping[str, Throttle]] = field(default_factory=dict)
    throttle: Throttle | None = None
    quota: Quota | None = None
    created_at: float | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> UsagePlan:
        """From the ``CreateUsagePlan`` / ``GetUsagePlan`` JSON shape (plus ``createdDate``)."""
        pid = d.get("id")
        if not isinstance(pid, str) or not pid:
            raise ConfigError("a usage plan needs an 'id'", key="usagePlans")
        stages: dict[str, dict[str, Throttle]] = {}
        for i, st in enumerate(d.get("apiStages") or []):
            if not isinstance(st, Mapping) or not isinstance(st.get("stage"), str):
                raise ConfigError("apiStages entries need a 'stage'",
                                  key=f"{pid}.apiStages[{i}]")
            label = f"{st['apiId']}/{st['stage']}" if st.get("apiId") else st["stage"]
            methods = st.get("throttle") or {}
            if len(methods) > 20:
                raise ConfigError("at most 20 method throttle settings per stage",
                                  key=f"{pid}.apiStages[{i}]")
            stages[label] = {
                m: Throttle.from_dict(t, f"{pid}.apiStages[{i}].throttle[{m}]")
                for m, t in methods.items()}
        thr = Throttle.from_dict(d["throttle"], f"{pid}.throttle") if d.get("throttle") else None
        quo = Quota.from_dict(d["quota"], f"{pid}.quota") if d.get("quota") else None
        created = d.get("createdDate")
        return cls(pid, str(d.get("name", "")), stages, thr, quo,
                   float(created) if isinstance(created, int | float) else None)

    def stage_methods(self, api_id: str, stage: str) -> Mapping[str, Throttle] | None:
        found = self.stages.get(f"{api_id}/{stage}")
        return found if found is not None else self.stages.get(stage)


def _method_throttle(methods: Mapping[str, Throttle], resource_path: str,
                     method: str) -> tuple[str, Throttle] | None:
    for key in (f"{resource_path}/{method.upper()}", f"{resource_path}/*",
                f"/*/{method.upper()}", "/*/*"):
        if key in methods:
            return key, methods[key]
    return None


class UsagePlanEnforcer:
    """``await check(api_key, api_id=, stage=, resource_path=, method=)`` -> ``AuthOutcome``."""

    def __init__(self, keys: ApiKeyStore, plans: Sequence[UsagePlan],
                 storage: Storage | GuardedStorage, clock: Clock | None = None, *,
                 refresh_interval: float = 5.0) -> None:
        """``refresh_interval``: how often (seconds) the key file is checked for changes."""
        self.keys = keys
        self.plans = {p.id: p for p in plans}
        self.storage = storage
        self.clock = clock or SystemClock()
        self.refresh_interval = refresh_interval
        self._checked = self.clock.monotonic()

    async def check(self, api_key: str | None, *, api_id: str, stage: str,
                    resource_path: str, method: str) -> AuthOutcome:
        tr = Tracer("auth.apikey")
        out = await self._check(api_key, api_id, stage, resource_path, method, tr)
        tr.add("decision", allow=out.ok, status=out.status, code=out.reason_code,
               reason=out.reason)
        return out.with_trace(tr.events)

    async def _bucket(self, key: str, t: Throttle) -> bool:
        if t.rate_limit <= 0 or t.burst_limit <= 0:
            return False
        if isinstance(self.storage, GuardedStorage):
            r = await self.storage.token_bucket(Feature.THROTTLE, key, t.rate_limit,
                                                t.burst_limit)
        else:
            r = await self.storage.token_bucket(key, t.rate_limit, t.burst_limit)
        return r.allowed

    async def _quota(self, key: str, limit: int, reset_at: float) -> tuple[bool, int]:
        if isinstance(self.storage, GuardedStorage):
            r = await self.storage.fixed_window(Feature.QUOTA, key, limit, reset_at)
        else:
            r = await self.storage.fixed_window(key, limit, reset_at)
        return r.allowed, r.count

    async def _check(self, api_key: str | None, api_id: str, stage: str, resource_path: str,
                     method: str, tr: Tracer) -> AuthOutcome:
        tr.add("apikey.check", key=mask(api_key), api_id=api_id, stage=stage,
               route=f"{resource_path}/{method.upper()}")
        if not api_key:
            return forbidden("missing_api_key", "no API key was presented")
        now_mono = self.clock.monotonic()
        if now_mono - self._checked >= self.refresh_interval:
            self._checked = now_mono
            try:
                if self.keys.refresh():
                    tr.add("apikey.store_reloaded", store=str(self.keys.path))
            except (OSError, ConfigError) as e:  # keep serving the last good keys
                tr.add("apikey.store_reload_failed", error=str(e))
        rec = self.keys.lookup(api_key)
        if rec is None:
            return forbidden("unknown_api_key", f"API key {mask(api_key)} is not in the store")
        if not rec.enabled:
            return forbidden("disabled_api_key", f"API key {rec.id} ({rec.name}) is disabled")
        plan = methods = None
        for pid in rec.plans:
            p = self.plans.get(pid)
            m = p.stage_methods(api_id, stage) if p else None
            if p is not None and m is not None:
                plan, methods = p, m
                break
        if plan is None or methods is None:
            return forbidden("not_in_plan", f"API key {rec.id} is in no usage plan for "
                                            f"{api_id}/{stage} (plans: {list(rec.plans)})")
        tr.add("usage_plan", plan=plan.id, key_id=rec.id)
        override = _method_throttle(methods, resource_path, method)
        if override is not None:
            label, thr = override
            if not await self._bucket(f"apikey:thr:{plan.id}:{rec.id}:{label}", thr):
                return too_many_requests("throttled", f"method throttle {label} of plan "
                                         f"{plan.id} ({thr.rate_limit:g} rps, burst "
                                         f"{thr.burst_limit}) exhausted for key {rec.id}")
        elif plan.throttle is not None:
            thr = plan.throttle
            if not await self._bucket(f"apikey:thr:{plan.id}:{rec.id}", thr):
                return too_many_requests("throttled", f"plan {plan.id} throttle "
                                         f"({thr.rate_limit:g} rps, burst {thr.burst_limit}) "
                                         f"exhausted for key {rec.id}")
        if plan.quota is not None:
            q = plan.quota
            now = self.clock.time()
            limit = q.limit
            if q.offset and plan.created_at is not None and \
                    period_start(q.period, plan.created_at) == period_start(q.period, now):
                limit -= q.offset
            reset_at = period_end(q.period, now)
            ok, count = await self._quota(f"apikey:quota:{plan.id}:{rec.id}", limit, reset_at)
            tr.add("quota", used=count, limit=limit, period=q.period, reset_at=reset_at)
            if not ok:
                return limit_exceeded("quota_exceeded", f"key {rec.id} used its {limit} "
                                      f"requests per {q.period} of plan {plan.id}")
        return allowed(context={"apiKeyId": rec.id, "usagePlanId": plan.id})
