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

The request goes as written, plus what HTTP requires of a client: ``Host`` (the API's
``execute-api`` name unless given) and ``Content-Length`` for a body. Nothing else is invented
(no User-Agent: rules about missing headers see what you send).

Side effects, on purpose few: log lines go to a temporary directory, the audit trail is off
and the state backend is in-process memory (a configured Redis is never touched: its quotas
and rate counters are not spent). Integrations run for real: Python handlers in this process,
HTTP upstreams over the network. Cases run in order against one gateway, so rate-based rules
and quotas accumulate across them (``repeat: N`` sends a request N times; ``expect`` judges
the last answer).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bastion.auth.sigv4 import Credentials, sign_request
from bastion.config import Problems, Section, load_document, load_settings
from bastion.gateway.gateway import Gateway, build_gateway
from bastion.http.app import response_fields
from bastion.pipeline import Exchange, Headers, Request, Response

__all__ = ["Case", "Outcome", "Trial", "load_cases"]

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
        names = {n.lower() for n, _ in headers}
        if case.body and not names & {"content-length", "transfer-encoding"}:
            headers.append(("Content-Length", str(len(case.body))))   # as any client sends
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
        pending = gw.finish(ex)
        if pending is not None:
            await pending
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
        cases.append(_case(sec, i))
        sec.done()
    root.done()
    if not cases and not problems.errors:
        root.error("holds no cases", "cases")
    problems.raise_if_any()
    return cases


def _case(sec: Section, i: int) -> Case:
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
