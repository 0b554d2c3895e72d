"""``bastion logs compact|query|retain``: the Athena of Bastion's logs, on the command line.

``query`` prints a tab-separated table with a header (``--format csv|json|table``); progress for
compaction goes to stderr only when stderr is a terminal, so piped output stays clean.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import Any

import duckdb

from bastion.observe.analytics import KINDS, LogStore

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``logs compact|query|retain`` on a subparsers object."""
    logs = subparsers.add_parser("logs", help="compact and query request logs")
    sub = logs.add_subparsers(dest="logs_command", required=True)
    c = sub.add_parser("compact", help="move idle JSON lines into date-partitioned Parquet")
    c.add_argument("--kind", choices=KINDS, action="append", help="only this kind (repeatable)")
    c.add_argument("--min-age", type=float, default=300.0,
                   help="only files idle this many seconds (default 300)")
    q = sub.add_parser("query", help="run one SELECT over waf_logs, access_logs, audit_events")
    q.add_argument("sql")
    q.add_argument("--day", help="YYYY-MM-DD: read only that day's partition")
    q.add_argument("--format", choices=("table", "csv", "json"), default="table")
    r = sub.add_parser("retain", help="delete partitions older than N days")
    r.add_argument("days", type=int)
    for p in (c, q, r):
        p.add_argument("--dir", default="logs", help="log directory (default: ./logs)")
        p.add_argument("--audit-dir", default=None,
                       help="audit trail directory, for the audit_events view")
        p.set_defaults(func=run)


def _progress(kind: str, done: int, total: int) -> None:
    sys.stderr.write(f"\rcompacting {kind}: {done}/{total} partitions")
    sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    store = LogStore(args.dir, audit_dir=args.audit_dir)
    tty = sys.stderr.isatty()
    try:
        if args.logs_command == "compact":
            res = store.compact(args.kind or KINDS, min_age_seconds=args.min_age,
                                progress=_progress if tty else None)
            if tty:
                sys.stderr.write("\r\033[K")
            print(f"compacted {res.records} records from {res.files} files into "
                  f"{len(res.partitions)} partitions")
            return 0
        if args.logs_command == "retain":
            for part in store.retain(args.days):
                print(f"removed {part}")
            return 0
        res_q = store.query(args.sql, day=args.day)
    except (ValueError, duckdb.Error) as exc:
        print(f"bastion logs: {exc}", file=sys.stderr)
        return 1
    _print(res_q.columns, res_q.rows, args.format)
    if tty:
        sys.stderr.write(f"{len(res_q.rows)} rows in {res_q.seconds * 1000:.1f} ms\n")
    return 0


def _print(cols: list[str], rows: list[tuple[Any, ...]], fmt: str) -> None:
    if fmt == "json":
        for row in rows:
            print(json.dumps(dict(zip(cols, row, strict=True)), default=str))
    elif fmt == "csv":
        w = csv.writer(sys.stdout)
        w.writerow(cols)
        w.writerows(rows)
    else:
        print("\t".join(cols))
        for row in rows:
            print("\t".join("" if v is None else str(v) for v in row))
