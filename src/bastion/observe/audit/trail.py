"""The audit trail writer: CloudTrail log files plus an hourly chain of signed digests.

Format choice: log files are CloudTrail's own, gzip JSON ``{"Records": [...]}``, immutable once
delivered. Records are buffered in memory and delivered as one file every ``delivery_seconds``
(default 300, CloudTrail's "about 5 minutes") or when ``max_records`` are pending, sorted by
``eventTime`` so that reordering inside a file is recognisable. ``flush()`` delivers at once and
``close()`` delivers and writes a final digest; records not yet delivered are lost on a crash,
exactly the window CloudTrail has.

Every ``digest_seconds`` (default one hour) a digest is written even when no log was delivered,
listing each log delivered in ``[digestStartTime, digestEndTime)`` with its SHA-256, and chaining
the previous digest's key, hash and signature. Everything is driven by the injected clock:
``tick()`` (also called by ``record``) catches up on every boundary that has passed, so tests can
generate days of chain instantly with a ``FrozenClock``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import secrets
import threading
from pathlib import Path
from typing import Any

from bastion.clock import Clock
from bastion.errors import ConfigError
from bastion.observe.audit.layout import (
    DIGEST_NAME,
    SIG_SUFFIX,
    digest_key,
    iso,
    key_time,
    log_key,
)
from bastion.observe.audit.records import UserIdentity, make_record
from bastion.observe.audit.signing import Signer, string_to_sign

__all__ = ["AuditTrail"]


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class AuditTrail:
    """Append CloudTrail records; deliver log files and signed hourly digests on the clock."""

    def __init__(
        self,
        log_dir: str | os.PathLike[str],
        signer: Signer,
        clock: Clock,
        *,
        account_id: str = "000000000000",
        region: str = "local",
        trail_name: str = "bastion",
        bucket: str = "bastion-audit",
        delivery_seconds: int = 300,
        digest_seconds: int = 3600,
        max_records: int = 1000,
        private_key_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.log_dir = Path(log_dir)
        if private_key_path is not None:
            key = Path(private_key_path).resolve()
            if key.is_relative_to(self.log_dir.resolve()):
                raise ConfigError("the audit signing key must not be kept inside the log "
                                  "directory", key="audit.private_key")
            if key.exists() and key.stat().st_mode & 0o077:
                raise ConfigError("the audit signing key must not be readable by group or "
                                  "others (chmod 600)", key="audit.private_key")
        if "_" in trail_name or "/" in trail_name or not trail_name:
            raise ConfigError("trail name must be non-empty without '_' or '/'",
                              key="audit.trail_name")
        if digest_seconds <= 0 or delivery_seconds <= 0 or max_records <= 0:
            raise ConfigError("audit intervals and max_records must be positive", key="audit")
        self._signer = signer
        self._clock = clock
        self.account_id, self.region, self.trail_name = account_id, region, trail_name
        self.bucket = bucket
        self._delivery = delivery_seconds
        self._period = digest_seconds
        self._max = max_records
        self._lock = threading.Lock()
        self._pending: list[dict[str, Any]] = []
        self._delivered: list[dict[str, Any]] = []   # logFiles entries of the open digest period
        now = clock.time()
        self._period_start = now
        self._period_end = (int(now) // self._period + 1) * self._period
        self._next_delivery = now + self._delivery
        self._prev: tuple[str, str, str] | None = None   # (key, sha256 hex, signature hex)
        self._closed = False
        self.records_total = 0                 # records accepted since start
        self.last_digest_end: float | None = None
        self._resume()

    # -- public -------------------------------------------------------------------------

    def record(self, record: dict[str, Any]) -> None:
        """Queue one CloudTrail record (build it with ``make_record`` or ``event``)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("audit trail is closed")
            self._tick_locked()
            self._pending.append(record)
            self.records_total += 1
            if len(self._pending) >= self._max:
                self._deliver_locked()

    def event(self, event_name: str, identity: UserIdentity, *,
              event_source: str = "bastion.gateway.local", **fields: Any) -> dict[str, Any]:
        """Build a record stamped with the trail's clock, account and region, and queue it."""
        rec = make_record(event_time=self._clock.time(), event_source=event_source,
                          event_name=event_name, identity=identity, region=self.region,
                          account_id=self.account_id, **fields)
        self.record(rec)
        return rec

    def tick(self) -> None:
        """Deliver due log files and write every digest whose period has ended."""
        with self._lock:
            self._tick_locked()

    def flush(self) -> None:
        """Deliver pending records now (they go into the open digest period)."""
        with self._lock:
            self._deliver_locked()

    def close(self) -> None:
        """Deliver pending records and write a final digest ending now."""
        with self._lock:
            if self._closed:
                return
            self._tick_locked()
            self._deliver_locked()
            now = self._clock.time()
            if now > self._period_start or self._delivered:
                self._write_digest_locked(max(now, self._period_start))
            self._closed = True

    # -- internals ----------------------------------------------------------------------

    def _resume(self) -> None:
        """Continue the chain from the newest digest already on disk (a restart, not a gap)."""
        base = self.log_dir / "AWSLogs" / self.account_id / "CloudTrail-Digest" / self.region
        best: tuple[float, str] | None = None
        for path in base.rglob("*.json.gz") if base.is_dir() else ():
            rel = path.relative_to(self.log_dir).as_posix()
            m = DIGEST_NAME.match(rel)
            if m and m.group("trail") == self.trail_name:
                t = key_time(m)
                if best is None or t > best[0]:
                    best = (t, rel)
        if best is None:
            return
        path = self.log_dir / best[1]
        try:
            raw = gzip.decompress(path.read_bytes())
            sig = json.loads(path.with_name(path.name + SIG_SUFFIX).read_text())["signature"]
        except (OSError, ValueError, KeyError, EOFError):
            return   # an unreadable tail starts a new chain; the verifier reports the damage
        self._prev = (best[1], hashlib.sha256(raw).hexdigest(), str(sig))
        self._period_start = max(self._period_start, best[0])

    def _tick_locked(self) -> None:
        now = self._clock.time()
        while now >= self._period_end:
            # records recorded in the closing period are delivered before its digest
            self._deliver_locked(at=self._period_end - 1)
            self._write_digest_locked(self._period_end)
        if now >= self._next_delivery:
            self._deliver_locked()

    def _deliver_locked(self, at: float | None = None) -> None:
        now = self._clock.time() if at is None else max(at, self._period_start)
        self._next_delivery = now + self._delivery
        if not self._pending:
            return
        records = sorted(self._pending, key=lambda r: str(r.get("eventTime", "")))
        self._pending = []
        raw = json.dumps({"Records": records}, separators=(",", ":")).encode()
        key = log_key(self.account_id, self.region, now, secrets.token_hex(8))
        _write_atomic(self.log_dir / key, gzip.compress(raw, mtime=0))
        times = [str(r.get("eventTime", "")) for r in records]
        self._delivered.append({
            "s3Bucket": self.bucket, "s3Object": key,
            "hashValue": hashlib.sha256(raw).hexdigest(), "hashAlgorithm": "SHA-256",
            "newestEventTime": max(times), "oldestEventTime": min(times),
        })

    def _write_digest_locked(self, end: float) -> None:
        end = float(int(end))
        key = digest_key(self.account_id, self.region, self.trail_name, end)
        while (self.log_dir / key).exists():
            # a stop and restart within one second: never overwrite a signed digest
            end += 1
            key = digest_key(self.account_id, self.region, self.trail_name, end)
        files = self._delivered
        digest: dict[str, Any] = {
            "awsAccountId": self.account_id,
            "digestStartTime": iso(self._period_start),
            "digestEndTime": iso(end),
            "digestS3Bucket": self.bucket,
            "digestS3Object": key,
            "digestPublicKeyFingerprint": self._signer.fingerprint,
            "digestSignatureAlgorithm": self._signer.algorithm,
            "newestEventTime": max((f["newestEventTime"] for f in files), default=None),
            "oldestEventTime": min((f["oldestEventTime"] for f in files), default=None),
            "previousDigestS3Bucket": self.bucket if self._prev else None,
            "previousDigestS3Object": self._prev[0] if self._prev else None,
            "previousDigestHashValue": self._prev[1] if self._prev else None,
            "previousDigestHashAlgorithm": "SHA-256" if self._prev else None,
            "previousDigestSignature": self._prev[2] if self._prev else None,
            "logFiles": files,
        }
        raw = json.dumps(digest, separators=(",", ":")).encode()
        sha = hashlib.sha256(raw).hexdigest()
        sig = self._signer.sign(string_to_sign(
            iso(end), self.bucket, key, sha, self._prev[2] if self._prev else None))
        path = self.log_dir / key
        _write_atomic(path, gzip.compress(raw, mtime=0))
        _write_atomic(path.with_name(path.name + SIG_SUFFIX), json.dumps(
            {"signature": sig, "signatureAlgorithm": self._signer.algorithm}).encode())
        self._prev = (key, sha, sig)
        self.last_digest_end = end
        self._delivered = []
        self._period_start = end
        self._period_end = (int(end) // self._period + 1) * self._period
