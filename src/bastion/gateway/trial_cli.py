"""``bastion try`` on the command line: one request shown in full, or a cases file judged
(exit 0, 1 when a case fails, 2 on a configuration error), with an optional JUnit report.
What it runs and the cases format: ``bastion.gateway.trial``."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import xml.etree.ElementTree as ET  # writing only: nothing here parses untrusted XML
from collections.abc import Sequence
from http import HTTPStatus
from pathlib import Path
from typing import Any

from bastion.auth.sigv4 import Credentials
from bastion.gateway.trial import Case, Outcome, Trial, load_cases

__all__ = ["add_parser"]


def _show(outcome: Outcome, out: Any) -> None:
    r, ex = outcome.response, outcome.exchange
    try:
        reason = HTTPStatus(r.status).phrase
    except ValueError:
        reason = ""
    print(f"HTTP/1.1 {r.status} {reason}".rstrip(), file=out)
    for k, v in outcome.headers:
        print(f"{k}: {v}", file=out)
    print(file=out)
    print(r.body.decode("utf-8", "replace"), file=out)
    print(file=out)
    why = ex.interruption
    print(f"decision: {f'{why.response_type} ({why.reason})' if why else 'passed every stage'}",
          file=out)
    waf = outcome.waf_log
    if waf is not None:
        labels = ", ".join(x["name"] for x in waf.get("labels") or ()) or "-"
        print(f"waf: {waf['action']} by {waf['terminatingRuleId']} "
              f"({waf['terminatingRuleType']}); labels: {labels}", file=out)
        for rule in waf.get("nonTerminatingMatchingRules") or ():
            print(f"waf: counted {rule.get('ruleId')} ({rule.get('action')})", file=out)
    for m in outcome.crs:
        print(f"crs: {m['id']} {m['msg']}".rstrip()
              + (f" [{m['variable']}]" if m["variable"] else ""), file=out)
        if m["data"]:
            print(f"     {m['data'][:200]}", file=out)
    for t in ex.trace:
        print(f"trace: {t.stage}: {t.event}", file=out)
    if waf is not None:
        print(f"waf log: {json.dumps(waf, separators=(',', ':'))}", file=out)
    elif outcome.waf_filtered:
        print("waf log: none (the web ACL's LoggingFilter drops this record)", file=out)
    if outcome.access_log is not None:
        print(f"access log: {outcome.access_log}", file=out)


async def _run(args: argparse.Namespace) -> int:
    if args.cases:
        cases = load_cases(Path(args.cases))
    else:
        if not args.request or len(args.request) != 2:
            print("error: give METHOD and PATH, or --cases FILE", file=sys.stderr)
            return 2
        creds = None
        if args.access_key:
            secret = args.secret_key or os.environ.get("AWS_SECRET_ACCESS_KEY", "")
            if not secret:
                print("error: --access-key needs --secret-key or $AWS_SECRET_ACCESS_KEY",
                      file=sys.stderr)
                return 2
            creds = Credentials.of(args.access_key, secret)
        headers = []
        for h in args.header:
            name, sep, value = h.partition(":")
            if not sep or not name.strip():
                print(f"error: bad header {h!r}: expected 'Name: value'", file=sys.stderr)
                return 2
            headers.append((name.strip(), value.strip()))
        try:
            body = Path(args.data_file).read_bytes() if args.data_file else \
                (args.data or "").encode()
        except OSError as exc:
            print(f"error: --data-file {args.data_file}: {exc.strerror}", file=sys.stderr)
            return 2
        cases = [Case("request", args.request[0].upper(), args.request[1], tuple(headers),
                      body, args.ip, creds)]
    with tempfile.TemporaryDirectory(prefix="bastion-try-") as tmp:
        trial = Trial(Path(args.config), Path(tmp))
        failed = 0
        results: list[tuple[Case, list[str], float]] = []
        try:
            for case in cases:
                started = time.perf_counter()
                for _ in range(case.repeat):
                    outcome = await trial.send(case)
                if not args.cases:
                    if args.json:
                        print(json.dumps({
                            "status": outcome.response.status, "headers": outcome.headers,
                            "body": outcome.response.body.decode("utf-8", "replace"),
                            "waf_log": outcome.waf_log, "access_log": outcome.access_log,
                            "crs": outcome.crs}))
                    else:
                        _show(outcome, sys.stdout)
                    continue
                problems = outcome.mismatches(case.expect)
                results.append((case, problems, time.perf_counter() - started))
                failed += bool(problems)
                print(f"{'FAIL' if problems else 'PASS'} {case.name}"
                      + (f": {'; '.join(problems)}" if problems else ""), flush=True)
        finally:
            await trial.close()
    if args.cases:
        print(f"{len(cases) - failed} passed, {failed} failed")
        if args.junit:
            try:
                _junit(Path(args.junit), Path(args.cases), results)
            except OSError as exc:
                print(f"error: --junit {args.junit}: {exc.strerror}", file=sys.stderr)
                return 2
    return 1 if failed else 0


def _junit(path: Path, source: Path, results: Sequence[tuple[Case, list[str], float]]) -> None:
    """The cases' results as JUnit XML, the report format CI systems read."""
    suite = ET.Element("testsuite", name=f"bastion try {source.name}", tests=str(len(results)),
                       failures=str(sum(1 for _, p, _ in results if p)), errors="0",
                       time=f"{sum(t for _, _, t in results):.3f}")
    for case, problems, seconds in results:
        tc = ET.SubElement(suite, "testcase", classname=source.stem, name=case.name,
                           time=f"{seconds:.3f}")
        if problems:
            ET.SubElement(tc, "failure", message=problems[0]).text = "\n".join(problems)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def _cmd(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "try", help="send a request through the gateway in-process (or a file of cases)",
        description="Answer requests with the gateway bastion.yaml describes, without a "
                    "server: the response, the decision and the log lines. Logs go to a "
                    "temporary directory, the audit trail is off, state is in memory. "
                    "Exit 0, 1 when a case fails, 2 on a configuration error.")
    p.add_argument("request", nargs="*", metavar="METHOD PATH",
                   help="e.g. GET '/prod/pets?id=1' (the stage is part of the path)")
    p.add_argument("--config", "-c", default="bastion.yaml", help="path to bastion.yaml")
    p.add_argument("--cases", metavar="FILE.yaml", help="requests with expectations")
    p.add_argument("-H", "--header", action="append", default=[], metavar="'Name: value'")
    p.add_argument("--data", "-d", help="request body")
    p.add_argument("--data-file", metavar="FILE", help="request body from a file")
    p.add_argument("--ip", default="127.0.0.1", help="the client's IP address")
    p.add_argument("--access-key", help="SigV4-sign the request with this access key")
    p.add_argument("--secret-key", help="its secret (default: $AWS_SECRET_ACCESS_KEY)")
    p.add_argument("--json", action="store_true", help="print the outcome as one JSON object")
    p.add_argument("--junit", metavar="FILE.xml", help="with --cases: also write a JUnit report")
    p.set_defaults(func=_cmd)
    return p
