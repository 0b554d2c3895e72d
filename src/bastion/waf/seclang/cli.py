"""``bastion waf test DIR...``: run ftw-format regression YAML against the engine in-process.

Wire-up (in bastion/cli.py): ``seclang_cli.add_parser(waf_subparsers)`` adds the ``test``
sub-command; ``args.func(args)`` (= ``run``) returns the exit code: 0 only when no stage
failed after the overrides.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from bastion.errors import ConfigError
from bastion.waf.seclang import ftw
from bastion.waf.seclang.crs import crs_sources, find_crs
from bastion.waf.seclang.registry import Primitives
from bastion.waf.seclang.waf import WAF, Snippet

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``test`` to the ``bastion waf`` sub-commands."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "test", help="run ftw regression YAML in-process against the SecLang engine",
        description="Run ftw 1.x regression tests (the CRS 3.3.x format) through the engine. "
                    "Prints PASS/FAIL per stage and ends with 'N passed, M failed'.")
    p.add_argument("dirs", nargs="+", metavar="DIR",
                   help="directories (or files) of *.yaml tests; later ones replace files "
                        "with the same relative path")
    p.add_argument("--rules", metavar="DIR", default=None,
                   help="CRS directory (default: Debian's modsecurity-crs), or with "
                        "--no-crs a directory of your own *.conf files")
    p.add_argument("--no-crs", action="store_true",
                   help="load only the *.conf files of --rules, not the CRS layout")
    p.add_argument("--paranoia", type=int, default=None, choices=(1, 2, 3, 4),
                   help="CRS paranoia level (default 1, or 4 with --crs-test-env)")
    p.add_argument("--crs-test-env", action="store_true",
                   help="the CRS regression-test environment (DetectionOnly, PL4, limits)")
    p.add_argument("--overrides", metavar="FILE", default=None,
                   help="YAML list of {test_title, expect: fail|skip, reason}")
    p.add_argument("--no-hyperscan", action="store_true", help="PCRE2 only")
    p.add_argument("--quiet", "-q", action="store_true", help="print failures only")
    p.set_defaults(func=run)
    return p


def _build_waf(args: argparse.Namespace, primitives: Primitives | None) -> WAF:
    hyperscan = not args.no_hyperscan
    if args.no_crs:
        if not args.rules:
            raise ConfigError("--no-crs needs --rules DIR", key="rules")
        files = sorted(Path(args.rules).glob("*.conf"))
        if not files:
            raise ConfigError(f"no *.conf in {args.rules}", key="rules")
        return WAF.build([Snippet("SecRuleEngine DetectionOnly\n", "<cli>"), *files],
                         hyperscan=hyperscan, primitives=primitives)
    layout = find_crs(args.rules)
    paranoia = args.paranoia or (4 if args.crs_test_env else 1)
    sources: list[Any] = crs_sources(layout, paranoia=paranoia, test_env=args.crs_test_env,
                                     before="" if args.crs_test_env
                                     else "SecRuleEngine DetectionOnly\n")
    return WAF.build(sources, hyperscan=hyperscan, primitives=primitives)


def run(args: argparse.Namespace, out: TextIO | None = None,
        primitives: Primitives | None = None) -> int:
    """Run the tests; exit status 0 when nothing failed, 1 on failures, 2 on bad input."""
    stream = out or sys.stdout
    try:
        waf = _build_waf(args, primitives)
        cases = ftw.load_tests(args.dirs)
        overrides = ftw.load_overrides(args.overrides) if args.overrides else {}
    except ConfigError as exc:
        print(f"error: {exc.render()}", file=sys.stderr)
        return 2
    results = ftw.run_tests(waf.new_transaction, cases, overrides)
    for r in results:
        if r.outcome == "fail":
            print(f"FAIL {r.title} ({r.file}): {r.reason} [fired: "
                  f"{' '.join(map(str, r.fired)) or '-'}]", file=stream)
        elif not args.quiet:
            label = "PASS" if r.outcome == "pass" else "SKIP"
            extra = f": {r.reason}" if r.reason else ""
            print(f"{label} {r.title}{extra}", file=stream)
    print(ftw.summary(results), file=stream)
    return 0 if all(r.outcome != "fail" for r in results) else 1
