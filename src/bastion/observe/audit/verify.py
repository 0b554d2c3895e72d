"""Offline integrity validation of an audit trail, in the style of ``aws cloudtrail validate-logs``.

The walk follows the AWS CLI's ``DigestTraverser``: newest digest first, each digest checked for
format, location, key fingerprint and signature, then every log file it lists re-hashed, then on to
the digest named by ``previousDigestS3Object`` using the signature and hash its successor carries.
On top of that it looks at what is on disk, which the CLI cannot see from S3 listings alone:

==========================  ========================================================
kind                        how it shows
==========================  ========================================================
``log-hash-mismatch``       an edited log file (hash differs from its digest entry)
``log-truncated``           the log parses but lost records, or its gzip is cut short
``log-reordered``           records no longer in ``eventTime`` order
``log-missing``             a listed log file is gone (deleted)
``log-moved``               a listed log turned up under another name (renamed)
``log-not-in-digest``       a log file no digest lists (forged or copied in)
``digest-invalid-format``   a digest that is not gzip JSON with the required keys
``digest-moved``            a digest not at the location it was signed for
``digest-key-not-found``    a digest signed by a key we were not given (foreign key)
``digest-signature``        signature check failed (edited or forged digest)
``digest-hash-mismatch``    a digest differs from the hash its successor recorded
``digest-missing``          the chain names a previous digest that is gone (deleted)
``digest-not-in-chain``     a digest the chain does not reach (forged or replaced)
``digest-tail-missing``     the newest expected digest(s) are absent (tail deleted)
==========================  ========================================================
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bastion.observe.audit.layout import (
    DIGEST_NAME,
    LOG_NAME,
    SIG_SUFFIX,
    iso,
    key_time,
    parse_iso,
)
from bastion.observe.audit.signing import PublicKey, fingerprint, string_to_sign, verify_signature

__all__ = ["Problem", "Report", "verify"]

_REQUIRED = ("digestPublicKeyFingerprint", "digestS3Bucket", "digestS3Object",
             "previousDigestSignature", "digestEndTime", "digestStartTime", "logFiles")


@dataclass(frozen=True, slots=True)
class Problem:
    """One integrity failure: a stable ``kind``, the file's key and a human message."""

    kind: str
    path: str
    message: str

    def line(self) -> str:
        what = "Digest file" if self.kind.startswith("digest") else "Log file"
        return f"{what}\t{self.path}\tINVALID: {self.message}"


@dataclass(slots=True)
class Report:
    """What ``verify`` found; ``ok`` is False on any problem (the CLI then exits 1)."""

    start: float
    end: float
    found_start: float | None = None
    found_end: float | None = None
    digests_valid: int = 0
    digests_total: int = 0
    logs_valid: int = 0
    logs_total: int = 0
    pending_logs: int = 0
    problems: list[Problem] = field(default_factory=list)
    valid_files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def kinds(self) -> set[str]:
        return {p.kind for p in self.problems}

    def summary(self, *, verbose: bool = False) -> str:
        out: list[str] = []
        if verbose:
            out += self.valid_files
        out += [p.line() for p in self.problems]
        if out:
            out.append("")
        out.append(f"Results requested for {iso(self.start)} to {iso(self.end)}")
        if self.found_start is None or self.found_end is None:
            out.append(f"No digest files were found between {iso(self.start)} and "
                       f"{iso(self.end)}")
        else:
            out.append(f"Results found for {iso(self.found_start)} to {iso(self.found_end)}:")
        out.append("")
        out.append(_count(self.digests_valid, self.digests_total, "digest"))
        out.append(_count(self.logs_valid, self.logs_total, "log"))
        if self.pending_logs:
            out.append(f"{self.pending_logs} log files not yet covered by a digest")
        return "\n".join(out)


def _count(valid: int, total: int, what: str) -> str:
    line = f"{valid}/{total} {what} files valid"
    if valid != total:
        line += f", {total - valid}/{total} {what} files INVALID"
    return line


@dataclass(frozen=True, slots=True)
class _Link:
    """What a successor digest says about its predecessor."""

    bucket: str | None
    key: str
    sha256: str | None
    signature: str | None


def verify(
    log_dir: str | Path,
    public_key: PublicKey | Sequence[PublicKey],
    start: float,
    end: float,
    *,
    now: float | None = None,
    digest_seconds: int = 3600,
    grace_seconds: int = 900,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Validate digests and logs covering ``[start, end]`` (epoch seconds).

    ``now`` (default: ``end``) decides which digests must already exist: every period that
    ended more than ``grace_seconds`` before ``now`` and before ``end`` needs its digest.
    """
    return _Verifier(Path(log_dir), public_key, start, end,
                     end if now is None else now, digest_seconds, grace_seconds,
                     progress).run()


class _Verifier:
    def __init__(self, root: Path, keys: PublicKey | Sequence[PublicKey], start: float,
                 end: float, now: float, period: int, grace: int,
                 progress: Callable[[int, int], None] | None) -> None:
        self.root = root
        ks = list(keys) if isinstance(keys, Sequence) else [keys]
        self.keys = {fingerprint(k): k for k in ks}
        self.start, self.end, self.now = start, end, now
        self.period, self.grace = period, grace
        self.progress = progress
        self.report = Report(start=start, end=end)
        self.digests: dict[str, float] = {}     # key -> end time (from the name)
        self.logs: dict[str, float] = {}        # key -> delivery time (from the name)
        self.listed: set[str] = set()
        self.missing_logs: dict[str, str] = {}  # key -> expected sha256
        self._tail_missing = False
        self._due = start

    # -- scan -----------------------------------------------------------------------------

    def _scan(self) -> None:
        base = self.root / "AWSLogs"
        for path in sorted(base.rglob("*")) if base.is_dir() else ():
            if not path.is_file() or path.name.endswith((SIG_SUFFIX, ".tmp")):
                continue
            rel = path.relative_to(self.root).as_posix()
            if m := DIGEST_NAME.match(rel):
                self.digests[rel] = key_time(m)
            elif m := LOG_NAME.match(rel):
                self.logs[rel] = key_time(m)
            else:
                self.report.logs_total += 1
                self._problem("log-not-in-digest", rel,
                              "unrecognised file name (renamed or foreign file)")

    def _problem(self, kind: str, path: str, message: str) -> None:
        self.report.problems.append(Problem(kind, path, message))

    # -- run ------------------------------------------------------------------------------

    def run(self) -> Report:
        self._scan()
        lo, hi = self.start, self.end + self.period
        in_range = sorted((k for k, t in self.digests.items() if lo < t <= hi),
                          key=lambda k: self.digests[k], reverse=True)
        visited: set[str] = set()
        oldest_visited: float | None = None
        done = 0
        for head in in_range:
            if head in visited:
                continue
            off_chain = oldest_visited is not None and self.digests[head] > oldest_visited
            cur: str | None = head
            link: _Link | None = None
            while cur is not None:
                visited.add(cur)
                done += 1
                if self.progress is not None:
                    self.progress(done, len(in_range))
                t = self.digests[cur]
                oldest_visited = t if oldest_visited is None else min(oldest_visited, t)
                nxt = self._check_digest(cur, link, off_chain)
                if off_chain or nxt is None:
                    break
                link = nxt
                if link.key not in self.digests:
                    if _name_time(link.key) > self.start:
                        self.report.digests_total += 1
                        self._problem("digest-missing", link.key,
                                      "not found (the previous digest was deleted)")
                    break
                if self.digests[link.key] <= self.start or link.key in visited:
                    break
                cur = link.key
        self._check_tail(in_range)
        self._check_unlisted_logs(in_range)
        return self.report

    # -- digests --------------------------------------------------------------------------

    def _check_digest(self, key: str, link: _Link | None, off_chain: bool) -> _Link | None:
        """Validate one digest and its logs; return the link to its predecessor, if any."""
        rep = self.report
        rep.digests_total += 1
        path = self.root / key
        try:
            raw = gzip.decompress(path.read_bytes())
            d = json.loads(raw)
            if not isinstance(d, dict) or any(k not in d for k in _REQUIRED):
                raise ValueError("missing keys")
        except (OSError, ValueError, EOFError, zlib.error):
            self._problem("digest-invalid-format", key, "invalid format")
            return None
        sha = hashlib.sha256(raw).hexdigest()
        start_t, end_t = _parse_time(d.get("digestStartTime")), _parse_time(d["digestEndTime"])
        if start_t is not None:
            rep.found_start = start_t if rep.found_start is None else min(rep.found_start, start_t)
        if end_t is not None:
            rep.found_end = end_t if rep.found_end is None else max(rep.found_end, end_t)
        self._check_logs(d.get("logFiles"))
        bad = self._digest_failure(key, d, raw, sha, link)
        if bad is None and off_chain:
            bad = ("digest-not-in-chain",
                   "not referenced by the digest chain (forged or replaced digest)")
        if bad is not None:
            self._problem(bad[0], key, bad[1])
        else:
            rep.digests_valid += 1
            rep.valid_files.append(f"Digest file\t{key}\tvalid")
        prev = d.get("previousDigestS3Object")
        if not isinstance(prev, str) or not prev:
            return None
        return _Link(bucket=d.get("previousDigestS3Bucket"), key=prev,
                     sha256=d.get("previousDigestHashValue"),
                     signature=d.get("previousDigestSignature"))

    def _digest_failure(self, key: str, d: dict[str, Any], raw: bytes, sha: str,
                        link: _Link | None) -> tuple[str, str] | None:
        if d["digestS3Object"] != key or (link is not None and link.bucket is not None
                                          and d["digestS3Bucket"] != link.bucket):
            return ("digest-moved", f"has been moved from its original location "
                    f"({d['digestS3Object']})")
        pub = self.keys.get(str(d["digestPublicKeyFingerprint"]))
        if pub is None:
            return ("digest-key-not-found", "public key not found for fingerprint "
                    f"{d['digestPublicKeyFingerprint']} (signed with a foreign key)")
        if link is not None and link.sha256 is not None and link.sha256 != sha:
            return ("digest-hash-mismatch", "hash value doesn't match the one recorded in "
                    "the next digest (digest edited or replaced)")
        signature = link.signature if link is not None else None
        side = (self.root / key).with_name(Path(key).name + SIG_SUFFIX)
        try:
            meta = json.loads(side.read_text())
            side_sig, alg = str(meta["signature"]), str(meta["signatureAlgorithm"])
        except (OSError, ValueError, KeyError, TypeError):
            side_sig, alg = None, str(d.get("digestSignatureAlgorithm", ""))
        if side_sig is None:
            return ("digest-signature", "signature file missing or unreadable"
                    + (" (its successor still vouches for the content)" if signature else ""))
        if signature is None:
            signature = side_sig
        elif side_sig != signature:
            return ("digest-signature", "signature file does not match the signature the next "
                    "digest recorded (signature file replaced)")
        if alg != d.get("digestSignatureAlgorithm"):
            return ("digest-signature", "signature algorithm does not match the digest")
        msg = string_to_sign(str(d["digestEndTime"]), str(d["digestS3Bucket"]),
                             str(d["digestS3Object"]), sha,
                             d["previousDigestSignature"])
        if not verify_signature(pub, alg, msg, signature):
            return ("digest-signature", "signature verification failed")
        return None

    # -- logs -----------------------------------------------------------------------------

    def _check_logs(self, entries: Any) -> None:
        for entry in entries if isinstance(entries, list) else ():
            if not isinstance(entry, dict):
                continue
            key = str(entry.get("s3Object", ""))
            self.listed.add(key)
            self.report.logs_total += 1
            bad = self._log_failure(key, entry)
            if bad is None:
                self.report.logs_valid += 1
                self.report.valid_files.append(f"Log file\t{key}\tvalid")
            else:
                self._problem(bad[0], key, bad[1])

    def _log_failure(self, key: str, entry: dict[str, Any]) -> tuple[str, str] | None:
        if not LOG_NAME.match(key):
            return ("log-missing", "invalid location in digest")
        try:
            data = (self.root / key).read_bytes()
        except FileNotFoundError:
            self.missing_logs[key] = str(entry.get("hashValue"))
            return ("log-missing", "not found (deleted or renamed)")
        except OSError as exc:
            return ("log-missing", f"unreadable ({exc.strerror})")
        try:
            raw = gzip.decompress(data)
        except (EOFError, gzip.BadGzipFile, zlib.error):
            return ("log-truncated", "invalid format (gzip stream truncated or corrupt)")
        if hashlib.sha256(raw).hexdigest() == entry.get("hashValue"):
            return None
        return _classify_mismatch(raw, entry)

    def _check_unlisted_logs(self, in_range: list[str]) -> None:
        newest = max((self.digests[k] for k in in_range), default=None)
        moved_from = {h: k for k, h in self.missing_logs.items()}
        for key, t in sorted(self.logs.items()):
            if key in self.listed or not (self.start <= t <= self.end):
                continue
            threshold = max(newest if newest is not None else self._due, self._due)
            if t + 60 > threshold and not self._tail_missing:
                self.report.pending_logs += 1
                continue
            self.report.logs_total += 1
            try:
                sha = hashlib.sha256(gzip.decompress((self.root / key).read_bytes())).hexdigest()
            except (OSError, EOFError, gzip.BadGzipFile, zlib.error):
                sha = ""
            if sha in moved_from:
                self._problem("log-moved", key,
                              f"has been moved from its original location ({moved_from[sha]})")
            else:
                self._problem("log-not-in-digest", key,
                              "not listed in any digest (forged or copied-in log file)")

    # -- tail -----------------------------------------------------------------------------

    def _check_tail(self, in_range: list[str]) -> None:
        # the digest covering ``end`` closes at the next boundary; it is owed once the grace
        # after that boundary has passed, earlier ones likewise
        closes = -(-int(self.end) // self.period) * self.period
        due = (int(min(closes, self.now - self.grace)) // self.period) * self.period
        self._due = due
        if due <= self.start:
            return
        newest = max(self.digests.values(), default=None)
        if newest is not None and newest >= due:
            return
        if newest is None:
            # nothing was ever digested: only an alarm if logs predate the first due digest
            if not any(t + 60 <= due for t in self.logs.values()):
                return
        elif newest % self.period != 0:
            # the trail was stopped (final digest off the hour): legitimate unless logs
            # were delivered after it and never digested
            if not any(newest + 60 <= t < due for t in self.logs.values()):
                return
        self._tail_missing = True
        self.report.digests_total += 1
        last = iso(newest) if newest is not None else "never"
        self._problem("digest-tail-missing", f"(digest due by {iso(due)})",
                      f"not found: the newest digest ends {last}; digests expected through "
                      f"{iso(due)} are missing (deleted or delivery stopped)")


def _classify_mismatch(raw: bytes, entry: dict[str, Any]) -> tuple[str, str]:
    try:
        records = json.loads(raw)["Records"]
        times = [str(r.get("eventTime", "")) for r in records]
    except (ValueError, KeyError, TypeError, AttributeError):
        return ("log-hash-mismatch", "hash value doesn't match (content is not valid JSON)")
    if times != sorted(times):
        return ("log-reordered", "hash value doesn't match: records are out of eventTime order")
    newest, oldest = entry.get("newestEventTime"), entry.get("oldestEventTime")
    if not times or (newest and max(times) < newest) or (oldest and min(times) > oldest):
        return ("log-truncated", "hash value doesn't match: records are missing (truncated)")
    return ("log-hash-mismatch", "hash value doesn't match (log edited)")


def _parse_time(value: Any) -> float | None:
    try:
        return parse_iso(str(value))
    except ValueError:
        return None


def _name_time(key: str) -> float:
    m = DIGEST_NAME.match(key)
    return key_time(m) if m else float("inf")
