"""``bastion try``: requests through the whole gateway in-process, before anything is deployed.

What an AWS user cannot do before deploying: see what the Web ACL, the CRS, IAM and the
resource policy, the authorizers, API keys and request validation do to one request. ``try``
builds the gateway from ``bastion.yaml`` as ``bastion serve`` does, answers requests without a
server, and shows the response, the decision (the refusing stage and why, the WAF's
terminating rule and labels, the CRS rules that matched and on what) and the two log lines
``serve`` would write::

    bastion try GET "/prod/pets?id=1' OR 1=1--" -H "User-Agent: curl/8" --ip 203.0.113.9
    bastion try --cases cases.yaml      # expectations per request: exit 1 on any mismatch
    bastion try --cases cases.yaml --junit report.xml   # and a JUnit report for CI

A cases file, for CI::

    cases:
      - name: SQL injection in the query is blocked
        request: GET /prod/pets?id=1' OR 1=1--
        headers: {User-Agent: curl/8}     # also: body, ip, repeat, sign
        expect: {status: 403, waf_action: BLOCK,
                 terminating_rule: AWS-AWSManagedRulesSQLiRuleSet}
      - name: the reader may list admin pets
        request: GET /prod/admin/pets
        sign: {access_key: AKIAPETSTOREREADER01, secret_key_env: READER_SECRET}
        expect: {status: 200}

``expect`` keys: ``status``, ``error_type`` (``x-amzn-ErrorType``), ``waf_action``,
``terminating_rule``, ``labels`` (each present), ``body`` (exact), ``body_contains``.

Side effects, on purpose few: log lines go to a temporary directory, the audit trail is off and
the state backend is in-process memory (a configured Redis is never touched: its quotas and
rate counters are not spent). Integrations run for real: Python handlers in this process, HTTP
upstreams over the network. Cases run in order against one gateway, so rate-based rules and
quotas accumulate across them (``repeat: N`` sends a request N times; ``expect`` judges the
last answer).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
import tempfile
import time
import xml.etree.ElementTree as ET  # writing only: nothing here parses untrusted XML
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bastion.auth.sigv4 import Credentials, sign_request
from bastion.config import Problems, Section, load_document, load_settings
from bastion.gateway.gateway import Gateway, build_gateway
from bastion.http.app import response_fields
from bastion.pipeline import Exchange, Headers, Request, Response

__all__ = ["Case", "Outcome", "Trial", "add_parser", "load_cases"]

_EXPECT_KEYS = ("status", "error_type", "waf_action", "terminating_rule", "labels", "body",
                "body_contains")
# what a request target may hold as typed; anything else (spaces, quotes...) is escaped,
# as a client would have to before sending it
_TARGET_SAFE = "/?&=%:@!$'()*+,;~-._[]"


@dataclass(frozen=True)
class Case:
    """One request to send, and what to expect of its answer (empty: nothing)."""

    name: str
    method: str
    target: str   # origin form, as typed: /prod/pets?id=1
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    ip: str = "127.0.0.1"
    credentials: Credentials | None = None
    repeat: int = 1
    expect: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Outcome:
    """A request's answer as the client saw it, and what the gateway logged of it."""

    response: Response
    headers: list[tuple[str, str]]   # as sent: with x-amzn-RequestId and Content-Length
    exchange: Exchange
    waf_log: dict[str, Any] | None
    access_log: str | None
    waf_filtered: bool = False   # the web ACL's LoggingFilter dropped the WAF record

    @property
    def crs(self) -> list[dict[str, str]]:
        """The OWASP CRS rules that matched (in the Web ACL's group or the CRS stage): id,
        message, variable and the engine's log data. Shown, never logged."""
        ex = self.exchange
        records = getattr(ex.notes.get("waf"), "crs_records", None) or ()
        out = [{"id": str(m.id), "msg": m.msg or "", "variable": m.matched_var_name or "",
                "data": m.logdata or ""} for m in records]
        crs = ex.notes.get("crs") or {}
        out += [{"id": str(d["id"]), "msg": d["msg"] or "", "variable": d["variable"] or "",
                 "data": d["data"] or ""} for d in crs.get("matched", ())]
        return out

    @property
    def error_type(self) -> str | None:
        return next((v for k, v in self.headers if k.lower() == "x-amzn-errortype"), None)

    def mismatches(self, expect: Sequence[tuple[str, Any]]) -> list[str]:
        """What differs from ``expect``, one phrase each (empty: as expected)."""
        waf = self.waf_log
        if waf is None:   # no record written (a LoggingFilter dropped it): the decision itself
            fields = self.exchange.notes.get("waf_log") or {}
            waf = {"action": fields.get("action", "ALLOW"),
                   "terminatingRuleId": fields.get("terminating_rule_id", "Default_Action")}
        body = self.response.body.decode("utf-8", "replace")
        seen: dict[str, Any] = {
            "status": self.response.status, "error_type": self.error_type,
            "waf_action": waf.get("action"), "terminating_rule": waf.get("terminatingRuleId"),
            "body": body}
        out = []
        for key, want in expect:
            if key == "labels":   # every label, not only the 100 a record holds
                have = set(self.exchange.labels)
                missing = [x for x in want if x not in have]
                if missing:
                    out.append(f"labels {missing} missing (have {sorted(map(str, have))})")
            elif key == "body_contains":
                if str(want) not in body:
                    out.append(f"body does not contain {want!r}")
            elif seen[key] != want:
                out.append(f"{key} {seen[key]!r}, expected {want!r}")
        return out


class Trial:
    """A gateway built for trying requests: the config's layers, temporary logs, no audit,
    memory state. ``close()`` when done."""

    def __init__(self, config: Path, log_dir: Path) -> None:
        settings = load_settings(config)
        logging = settings.extra.get("logging")
        extra = {**settings.extra, "audit": None,
                 "logging": {**(logging if isinstance(logging, dict) else {}),
                             "dir": str(log_dir), "enabled": True}}
        self.log_dir = log_dir
        self.gateway: Gateway = build_gateway(
            dataclasses.replace(settings, state="memory://", extra=extra))
        self._read: dict[Path, int] = {}   # bytes of each log file already read

    async def send(self, case: Case) -> Outcome:
        gw = self.gateway
        path, _, query = quote(case.target, safe=_TARGET_SAFE).partition("?")
        headers = list(case.headers)
        api = gw.settings.api
        if not any(n.lower() == "host" for n, _ in headers):   # the name API Gateway answers to
            headers.insert(0, ("Host", f"{api.api_id}.execute-api.{api.region}.amazonaws.com"))
        if case.credentials is not None:
            host = next(v for n, v in headers if n.lower() == "host")
            headers = sign_request(case.method, f"http://{host}{path}{'?' if query else ''}"
                                   f"{query}", headers, case.body, case.credentials,
                                   api.region, "execute-api", gw.clock.time()).headers
        ex = gw.exchange(Request(method=case.method, raw_path=path, query_string=query,
                                 headers=Headers(headers), body=case.body, client_ip=case.ip))
        response = await gw.handle(ex)
        sent = [(k.decode("latin-1"), v.decode("latin-1"))
                for k, v in response_fields(response, ex.request_id)]
        if response.stream is not None:   # what a client would read: the whole body
            chunks = [response.body]
            async for chunk in response.stream:
                chunks.append(chunk)
            response = dataclasses.replace(response, body=b"".join(chunks), stream=None)
        ex.response_bytes = len(response.body)
        writer = gw.ctx.resources.get("log_writer")
        # read before the capture is queued: the writer thread may render it at any moment
        filtered = writer.stats().filtered if writer is not None else 0
        await gw.finish(ex)
        waf, access = self._new_line("waf"), self._new_line("access")
        dropped = writer is not None and writer.stats().filtered > filtered
        return Outcome(response, sent, ex, json.loads(waf) if waf else None, access, dropped)

    def _new_line(self, kind: str) -> str | None:
        """The line the request just logged in ``kind`` (None when that log is off): only what
        was appended since the last request is read, so ``repeat: 10000`` stays linear."""
        writer = self.gateway.ctx.resources.get("log_writer")
        if writer is None:
            return None
        writer.flush()
        last = None
        for part in sorted((self.log_dir / kind).glob("dt=*/part-*.jsonl")):
            with part.open("rb") as f:
                f.seek(self._read.get(part, 0))
                new = f.read()
            self._read[part] = self._read.get(part, 0) + len(new)
            lines = new.decode("utf-8").splitlines()
            if lines:
                last = lines[-1]
        return last

    async def close(self) -> None:
        await self.gateway.close()


def load_cases(path: Path) -> list[Case]:
    """The cases of a YAML file; ``ConfigError``s name the file, line and key."""
    problems = Problems()
    root = Section(load_document(path), file=str(path), path="", problems=problems)
    cases: list[Case] = []
    for i, (line, item) in enumerate(root.items("cases")):
        sec = Section(item, file=str(path), path=f"cases[{i}]", problems=problems, anchor=line)
        case = _case(sec, i)
        sec.done()
        if case is not None:
            cases.append(case)
    root.done()
    if not cases and not problems.errors:
        root.error("holds no cases", "cases")
    problems.raise_if_any()
    return cases


def _case(sec: Section, i: int) -> Case | None:
    request = sec.require("request", str, "")
    method, _, target = request.strip().partition(" ")
    target = target.strip()
    if request and not (method.isalpha() and target.startswith("/")):
        sec.error("must be 'METHOD /path?query', e.g. 'GET /prod/pets'", "request")
    headers = sec.get("headers", dict, {})
    body = sec.get("body", str, "")
    expect = sec.section("expect")
    wanted = []
    for key in _EXPECT_KEYS:
        kind: type = {"status": int, "labels": list}.get(key, str)
        if expect.has(key):
            wanted.append((key, expect.get(key, kind, None)))
    expect.done()
    sign = sec.section("sign")
    creds = None
    if sec.has("sign"):
        access = sign.require("access_key", str, "")
        secret = sign.get("secret_key", str, "")
        env = sign.get("secret_key_env", str, "")
        if env:
            secret = os.environ.get(env, "")
            if not secret:
                sign.error(f"${env} is not set", "secret_key_env")
        elif not secret:
            sign.error("needs secret_key or secret_key_env", "secret_key")
        creds = Credentials.of(access, secret, sign.get("session_token", str, "") or None)
    sign.done()
    repeat = sec.get("repeat", int, 1, check=lambda n: None if 1 <= n <= 10_000
                     else "must be between 1 and 10000")
    return Case(name=sec.get("name", str, f"case {i + 1}"), method=method.upper(),
                target=target, headers=tuple((str(k), str(v)) for k, v in headers.items()),
                body=body.encode(), ip=sec.get("ip", str, "127.0.0.1"), credentials=creds,
                repeat=repeat, expect=tuple(wanted))


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
        body = Path(args.data_file).read_bytes() if args.data_file else \
            (args.data or "").encode()
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
            _junit(Path(args.junit), Path(args.cases), results)
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
