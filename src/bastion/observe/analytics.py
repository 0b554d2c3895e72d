"""SQL over the logs: hot JSON lines compacted into date-partitioned Parquet, queried with DuckDB.

Layout under one log root (the ``LogWriter`` directory)::

    <root>/<kind>/dt=YYYY-MM-DD/part-*.jsonl                 hot, appended by LogWriter
    <root>/parquet/<kind>/dt=YYYY-MM-DD/part_<uuid>.parquet  compacted (DuckDB COPY ... APPEND)
    <audit_dir>/AWSLogs/*/CloudTrail/**/*.json.gz            the audit trail, read in place

``compact`` reads each hot partition with an explicit column list (so batches never infer
different types), appends it to the Parquet partition and removes the JSONL files it consumed;
only files idle for ``min_age_seconds`` are touched, because the writer closes idle files.
``query`` runs one read-only statement over the views ``waf_logs``, ``access_logs`` and
``audit_events``; each view is the union of Parquet and hot JSONL, so records are queryable as soon
as the writer flushes. With ``day=`` the views are built over that day's partition directories
(and that day's CloudTrail key prefix) only, so other days' files are never opened. ``retain``
drops whole partitions past a cut-off.

The DuckDB connection is sandboxed: external access is limited to the log directories, the
configuration is locked, and only a single SELECT-like statement is accepted.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from bastion.clock import Clock, SystemClock

__all__ = ["COLUMNS", "KINDS", "CompactResult", "LogStore", "QueryResult"]

_HTTP = ("STRUCT(clientIp VARCHAR, country VARCHAR, headers STRUCT(name VARCHAR, value VARCHAR)[],"
         " uri VARCHAR, args VARCHAR, httpVersion VARCHAR, httpMethod VARCHAR, requestId VARCHAR,"
         " scheme VARCHAR, host VARCHAR)")
_BASTION = ("STRUCT(route VARCHAR, status INTEGER, latencyMs STRUCT(total DOUBLE, waf DOUBLE, "
            "auth DOUBLE, integration DOUBLE), principal VARCHAR, reason VARCHAR)")
COLUMNS: dict[str, dict[str, str]] = {
    "waf": {
        "timestamp": "BIGINT", "formatVersion": "INTEGER", "webaclId": "VARCHAR",
        "terminatingRuleId": "VARCHAR", "terminatingRuleType": "VARCHAR", "action": "VARCHAR",
        "terminatingRuleMatchDetails": "JSON", "httpSourceName": "VARCHAR",
        "httpSourceId": "VARCHAR", "ruleGroupList": "JSON", "rateBasedRuleList": "JSON",
        "nonTerminatingMatchingRules": "JSON", "requestHeadersInserted": "JSON",
        "responseCodeSent": "INTEGER", "httpRequest": _HTTP, "labels": "STRUCT(name VARCHAR)[]",
        "requestBodySize": "BIGINT", "requestBodySizeInspectedByWAF": "BIGINT",
        "oversizeFields": "VARCHAR", "captchaResponse": "JSON", "challengeResponse": "JSON",
        "bastion": _BASTION,
    },
    "access": {
        "requestId": "VARCHAR", "extendedRequestId": "VARCHAR", "ip": "VARCHAR",
        "caller": "VARCHAR", "user": "VARCHAR", "requestTime": "VARCHAR",
        "requestTimeEpoch": "BIGINT", "httpMethod": "VARCHAR", "resourcePath": "VARCHAR",
        "status": "VARCHAR", "protocol": "VARCHAR", "responseLength": "VARCHAR",
        "responseLatency": "VARCHAR", "integrationLatency": "VARCHAR",
    },
}
KINDS = tuple(COLUMNS)
# a line without its kind's key field is unparseable (DuckDB yields an all-NULL row for it)
_KEY = {"waf": "timestamp", "access": "requestId"}
_EXTRA = {
    "waf": ("to_timestamp(timestamp / 1000) AS ts, httpRequest.clientIp AS client_ip, "
            "httpRequest.country AS country, httpRequest.uri AS uri, "
            "httpRequest.httpMethod AS http_method, bastion.route AS route, "
            "bastion.status AS status, bastion.latencyMs.total AS latency_ms"),
    "access": ("TRY_CAST(status AS INTEGER) AS status_code, "
               "TRY_CAST(responseLength AS BIGINT) AS response_length"),
}
_AUDIT_COLUMNS = ("eventVersion VARCHAR, userIdentity JSON, eventTime VARCHAR, "
                  "eventSource VARCHAR, eventName VARCHAR, awsRegion VARCHAR, "
                  "sourceIPAddress VARCHAR, userAgent VARCHAR, errorCode VARCHAR, "
                  "errorMessage VARCHAR, requestParameters JSON, responseElements JSON, "
                  "requestID VARCHAR, eventID VARCHAR, eventType VARCHAR, readOnly BOOLEAN, "
                  "managementEvent BOOLEAN, recipientAccountId VARCHAR, eventCategory VARCHAR")


@dataclass(frozen=True, slots=True)
class CompactResult:
    """What ``compact`` moved; ``skipped`` counts unparseable lines (e.g. cut by a crash)."""

    files: int
    records: int
    partitions: tuple[str, ...]
    skipped: int = 0


@dataclass(frozen=True, slots=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    seconds: float


def _lit(path: Path | str) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _count_lines(path: Path) -> int:
    n = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            n += chunk.count(b"\n")
    return n


def _cols(kind: str) -> str:
    return "{" + ", ".join(f"{_lit(k)}: {_lit(v)}" for k, v in COLUMNS[kind].items()) + "}"


class LogStore:
    """Compaction, retention and read-only SQL over one log root."""

    def __init__(self, root: str | os.PathLike[str], *, audit_dir: str | os.PathLike[str] | None
                 = None, clock: Clock | None = None, threads: int | None = None) -> None:
        self.root = Path(root).resolve()
        self.audit_dir = Path(audit_dir).resolve() if audit_dir is not None else None
        self._clock = clock or SystemClock()
        self._threads = threads
        self._lock = threading.Lock()
        self._cache: dict[str | None, tuple[tuple[bool, ...], duckdb.DuckDBPyConnection]] = {}

    # -- compaction -----------------------------------------------------------------------

    def compact(self, kinds: Sequence[str] = KINDS, *, min_age_seconds: float = 300.0,
                progress: Callable[[str, int, int], None] | None = None) -> CompactResult:
        """Move idle hot JSONL files into Parquet partitions; returns what was compacted."""
        now = time.time()
        con = self._connect(sandbox=False)
        files = records = skipped = 0
        parts: list[str] = []
        try:
            for kind in kinds:
                if kind not in COLUMNS:
                    raise ValueError(f"unknown log kind {kind!r}; expected one of {KINDS}")
                hot = sorted((self.root / kind).glob("dt=*"))
                for i, part in enumerate(hot):
                    if progress is not None:
                        progress(kind, i + 1, len(hot))
                    ready = [f for f in sorted(part.glob("part-*.jsonl"))
                             if now - f.stat().st_mtime >= min_age_seconds]
                    if not ready:
                        continue
                    src = "[" + ", ".join(_lit(f) for f in ready) + "]"
                    out = self.root / "parquet" / kind
                    out.mkdir(parents=True, exist_ok=True)
                    n = con.execute(
                        f"COPY (SELECT * FROM read_json({src}, columns={_cols(kind)}, "
                        "format='newline_delimited', hive_partitioning=true, "
                        f"ignore_errors=true) WHERE \"{_KEY[kind]}\" IS NOT NULL) "
                        f"TO {_lit(out)} (FORMAT parquet, PARTITION_BY (dt), APPEND, "
                        "FILENAME_PATTERN 'part_{uuid}')").fetchone()
                    copied = int(n[0]) if n else 0
                    records += copied
                    skipped += max(0, sum(_count_lines(f) for f in ready) - copied)
                    for f in ready:
                        f.unlink()
                    if not any(part.iterdir()):
                        part.rmdir()
                    files += len(ready)
                    parts.append(f"{kind}/{part.name}")
        finally:
            con.close()
        return CompactResult(files, records, tuple(parts), skipped)

    # -- retention ------------------------------------------------------------------------

    def retain(self, days: int) -> list[str]:
        """Delete hot and Parquet partitions older than ``days`` days (by partition date)."""
        if days < 0:
            raise ValueError("retention days must be >= 0")
        today = datetime.fromtimestamp(self._clock.time(), UTC).date()
        cutoff = today - timedelta(days=days)
        removed = []
        for base in (self.root, self.root / "parquet"):
            for kind in KINDS:
                for part in sorted((base / kind).glob("dt=*")):
                    try:
                        day = date.fromisoformat(part.name[3:])
                    except ValueError:
                        continue
                    if day < cutoff:
                        shutil.rmtree(part)
                        removed.append(str(part.relative_to(self.root)))
        return removed

    # -- query ----------------------------------------------------------------------------

    def query(self, sql: str, *, day: str | None = None,
              params: Sequence[Any] | None = None) -> QueryResult:
        """Run one read-only statement over ``waf_logs``, ``access_logs``, ``audit_events``."""
        if day is not None:
            date.fromisoformat(day)   # raises ValueError on anything but YYYY-MM-DD
        con = self._cached(day).cursor()
        try:
            stmts = con.extract_statements(sql)
            if len(stmts) != 1 or stmts[0].type not in (
                    duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN):
                raise ValueError("only a single SELECT (or EXPLAIN) statement is allowed")
            t0 = time.perf_counter()
            cur = con.execute(sql, params or [])
            rows = cur.fetchall()
            cols = [d[0] for d in cur.description or []]
            return QueryResult(cols, rows, time.perf_counter() - t0)
        finally:
            con.close()

    def connect(self, *, day: str | None = None) -> duckdb.DuckDBPyConnection:
        """A sandboxed connection with the views defined (caller closes it)."""
        return self._connect(sandbox=True, day=day)

    def close(self) -> None:
        """Close the cached query connections."""
        with self._lock:
            for _, con in self._cache.values():
                con.close()
            self._cache.clear()

    def _cached(self, day: str | None) -> duckdb.DuckDBPyConnection:
        """Reuse a sandboxed connection (warm metadata caches) while the set of sources holds.

        View globs are resolved at query time, so new files are seen; only a source appearing
        or vanishing (hot files all compacted, first Parquet written) needs new views.
        """
        sig = self._signature(day)
        with self._lock:
            hit = self._cache.get(day)
            if hit is not None and hit[0] == sig:
                return hit[1]
            if hit is not None:
                hit[1].close()
            con = self._connect(sandbox=True, day=day)
            self._cache[day] = (sig, con)
            return con

    def _signature(self, day: str | None) -> tuple[bool, ...]:
        part = f"dt={day}" if day else "dt=*"
        sig = []
        for kind in KINDS:
            sig.append(any((self.root / "parquet" / kind).glob(f"{part}/*.parquet")))
            sig.append(any((self.root / kind).glob(f"{part}/part-*.jsonl")))
        if self.audit_dir is not None:
            sub = "*/" + day.replace("-", "/") if day else "**"
            sig.append(any(self.audit_dir.glob(f"AWSLogs/*/CloudTrail/{sub}/*.json.gz")))
        return tuple(sig)

    def _connect(self, *, sandbox: bool, day: str | None = None) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect()
        if self._threads:
            con.execute(f"SET threads = {int(self._threads)}")
        if not sandbox:
            return con
        for kind, view in (("waf", "waf_logs"), ("access", "access_logs")):
            con.execute(f"CREATE VIEW {view} AS {self._view_sql(kind, day)}")
        con.execute(f"CREATE VIEW audit_events AS {self._audit_sql(day)}")
        allowed = [str(self.root) + "/"]
        if self.audit_dir is not None:
            allowed.append(str(self.audit_dir) + "/")
        con.execute("SET allowed_directories = [" + ", ".join(_lit(a) for a in allowed) + "]")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        return con

    def _view_sql(self, kind: str, day: str | None) -> str:
        part = f"dt={day}" if day else "dt=*"
        sources = []
        pq = self.root / "parquet" / kind
        if any(pq.glob(f"{part}/*.parquet")):
            sources.append(f"SELECT * FROM read_parquet({_lit(pq / part / '*.parquet')}, "
                           "hive_partitioning=true)")
        hot = self.root / kind
        if any(hot.glob(f"{part}/part-*.jsonl")):
            sources.append(f"SELECT * FROM read_json({_lit(hot / part / 'part-*.jsonl')}, "
                           f"columns={_cols(kind)}, format='newline_delimited', "
                           f"hive_partitioning=true, ignore_errors=true) "
                           f"WHERE \"{_KEY[kind]}\" IS NOT NULL")
        if not sources:
            cols = ", ".join(f"CAST(NULL AS {t}) AS \"{c}\"" for c, t in COLUMNS[kind].items())
            sources.append(f"SELECT {cols}, CAST(NULL AS DATE) AS dt WHERE false")
        union = " UNION ALL BY NAME ".join(sources)
        return f"SELECT *, {_EXTRA[kind]} FROM ({union})"

    def _audit_sql(self, day: str | None) -> str:
        empty = ("SELECT " + ", ".join(
            f"CAST(NULL AS {c.split()[1]}) AS {c.split()[0]}" for c in _AUDIT_COLUMNS.split(", ")
        ) + " WHERE false")
        if self.audit_dir is None:
            return empty
        # CloudTrail keys carry the delivery date: a day filter reads only that day's files
        sub = "*/" + day.replace("-", "/") if day else "**"
        glob = self.audit_dir / "AWSLogs" / "*" / "CloudTrail" / sub / "*.json.gz"
        if not any(self.audit_dir.glob(f"AWSLogs/*/CloudTrail/{sub}/*.json.gz")):
            return empty
        struct = "STRUCT(" + _AUDIT_COLUMNS + ")[]"
        return (f"SELECT r.* FROM (SELECT unnest(Records) AS r FROM read_json({_lit(glob)}, "
                f"columns={{'Records': {_lit(struct)}}}, format='auto'))")
