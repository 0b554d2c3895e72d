"""``bastion audit verify``: the ``aws cloudtrail validate-logs`` of Bastion's audit trail.

Prints ``Digest file``/``Log file`` lines for failures (all files with ``--verbose``) and the
``Results requested for ...`` summary; exits 1 if anything is invalid. Progress goes to stderr
only when stderr is a terminal, so piped output stays clean.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bastion.observe.audit.layout import parse_iso
from bastion.observe.audit.signing import PublicKey, load_public_key
from bastion.observe.audit.verify import verify

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``audit verify`` on a subparsers object (``bastion audit ...``)."""
    audit = subparsers.add_parser("audit", help="audit trail tools")
    sub = audit.add_subparsers(dest="audit_command", required=True)
    v = sub.add_parser("verify", help="validate audit log files and digests "
                       "(like aws cloudtrail validate-logs)")
    v.add_argument("--start", required=True, help="ISO-8601 start time (UTC if no offset)")
    v.add_argument("--end", help="ISO-8601 end time (default: now)")
    v.add_argument("--dir", default="audit", help="audit log directory (default: ./audit)")
    v.add_argument("--public-key", action="append", dest="public_keys",
                   help="PEM/DER public key file; repeat for rotated keys "
                        "(default: audit-keys/audit-public.pem)")
    v.add_argument("--digest-seconds", type=int, default=3600, help=argparse.SUPPRESS)
    v.add_argument("--verbose", action="store_true", help="also list valid files")
    v.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        start = parse_iso(args.start)
        end = parse_iso(args.end) if args.end else time.time()
    except ValueError as exc:
        print(f"bastion audit verify: invalid date: {exc}", file=sys.stderr)
        return 2
    if end < start:
        print("bastion audit verify: --end is before --start", file=sys.stderr)
        return 2
    keys: list[PublicKey] = []
    for name in args.public_keys or ["audit-keys/audit-public.pem"]:
        try:
            keys.append(load_public_key(Path(name).read_bytes()))
        except (OSError, ValueError) as exc:
            print(f"bastion audit verify: cannot load public key {name}: {exc}",
                  file=sys.stderr)
            return 2
    tty = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        sys.stderr.write(f"\rvalidating digests {done}/{total}")
        sys.stderr.flush()

    report = verify(args.dir, keys, start, end, now=time.time(),
                    digest_seconds=args.digest_seconds, progress=progress if tty else None)
    if tty:
        sys.stderr.write("\r\033[K")
    print(report.summary(verbose=args.verbose))
    return 0 if report.ok else 1
