"""An in-process runner for ftw 1.x regression YAML (the format of the CRS 3.3.x tests).

Each stage's request is built the way ftw 1.3.0 sends it (including its input "magic"), run
through a fresh transaction, and the ``log_contains`` / ``no_log_contains`` expectations are
checked against the ids of the rules that logged. Stages that expect an HTTP status or a
connection error are reported as not checkable in-process. An overrides file marks known
deviations (``expect: fail`` or ``skip``, each with a reason).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import yaml

from bastion.errors import ConfigError
from bastion.waf.seclang.transaction import Transaction

__all__ = [
    "FtwRequest",
    "Override",
    "StageResult",
    "build_request",
    "load_overrides",
    "load_tests",
    "run_stage",
    "apply_overrides",
    "run_tests",
    "summary",
]

MAX_BODY = 16 * 1024 * 1024


@dataclass(slots=True)
class FtwRequest:
    """One request as ftw would put it on the wire."""

    method: str
    uri: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes
    bare_lf: bool = False


@dataclass(slots=True)
class StageResult:
    title: str
    file: str
    outcome: str  # pass | fail | skip
    reason: str = ""
    fired: tuple[int, ...] = ()
    overridden: bool = False


@dataclass(frozen=True, slots=True)
class Override:
    title: str
    expect: str  # fail | skip
    reason: str


@dataclass(slots=True)
class TestCase:
    title: str
    file: str
    stages: list[dict[str, Any]] = field(default_factory=list)


def _charset(headers: Sequence[tuple[str, str]]) -> str:
    for k, v in headers:
        if k.lower() == "content-type":
            m = re.search(r"charset\s*=\s*\"?([A-Za-z0-9._-]+)", v, re.IGNORECASE)
            if m:
                return m.group(1)
    return "utf-8"


def _encode(text: str, charset: str) -> bytes:
    try:
        return text.encode(charset)
    except (LookupError, UnicodeEncodeError):
        return text.encode("utf-8", errors="surrogateescape")


def _parse_raw(raw: bytes) -> FtwRequest:
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = raw.partition(b"\n\n")
    bare_lf = b"\n" in head.replace(b"\r\n", b"")
    lines = head.decode("latin-1").replace("\r\n", "\n").split("\n")
    parts = lines[0].split(" ")
    method = parts[0]
    version = parts[-1] if len(parts) >= 3 else ""
    uri = " ".join(parts[1:-1]) if len(parts) >= 3 else (parts[1] if len(parts) > 1 else "")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            headers.append((name.strip(), value.strip()))
    for k, v in headers:
        if k.lower() == "content-length" and v.isdigit():
            body = body[: int(v)]
    return FtwRequest(method, uri, version, headers, body, bare_lf)


def build_request(inp: dict[str, Any]) -> FtwRequest:
    """An ftw 1.3.0 stage input -> the request it sends."""
    if inp.get("encoded_request"):
        return _parse_raw(base64.b64decode(str(inp["encoded_request"])))
    if inp.get("raw_request"):
        return _parse_raw(str(inp["raw_request"]).encode("utf-8", errors="surrogateescape"))
    method = str(inp.get("method", "GET"))
    uri = str(inp.get("uri", "/"))
    version = inp.get("version", "HTTP/1.1")
    version = "" if version is None else str(version)
    headers = [(str(k), str(v)) for k, v in (inp.get("headers") or {}).items()]
    data = inp.get("data", "")
    if isinstance(data, list):
        data = "\r\n".join(str(x) for x in data)
    data = "" if data is None else str(data)
    if data and not inp.get("stop_magic", False):
        names = [k.lower() for k, _ in headers]
        if "content-type" not in names:
            headers.append(("Content-Type", "application/x-www-form-urlencoded"))
        ct = next(v for k, v in headers if k.lower() == "content-type")
        if ct == "application/x-www-form-urlencoded" and not re.search(
                r"%[0-9A-Fa-f]{2}", data) and "=" in data:
            data = urlencode(parse_qsl(data))
        body = _encode(data, _charset(headers))
        if "content-length" not in names:
            headers.append(("Content-Length", str(len(body))))
    else:
        body = _encode(data, _charset(headers))
    return FtwRequest(method, uri, version, headers, body)


_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_VERSION = re.compile(r"^HTTP/([0-9])\.([0-9])$")
_HOST = re.compile(r"^[A-Za-z0-9._-]*(?::[0-9]*)?$|^\[[0-9A-Fa-f:.]+\](?::[0-9]*)?$")
#: Methods Apache httpd knows; the stand-in backend answers 501 to any other.
KNOWN_METHODS = frozenset(
    "GET HEAD PUT POST DELETE CONNECT OPTIONS TRACE PATCH PROPFIND PROPPATCH MKCOL COPY MOVE "
    "LOCK UNLOCK VERSION-CONTROL CHECKOUT UNCHECKOUT CHECKIN UPDATE LABEL REPORT MKWORKSPACE "
    "MKACTIVITY BASELINE-CONTROL MERGE".split())


def _dechunk(body: bytes) -> bytes | None:
    out = bytearray()
    rest = body
    while True:
        line, sep, rest = rest.partition(b"\r\n")
        if not sep:
            return None
        try:
            size = int(line.split(b";")[0].strip(), 16)
        except ValueError:
            return None
        if size == 0:
            return bytes(out)
        out += rest[:size]
        rest = rest[size + 2:]


def front_end(req: FtwRequest) -> str | None:
    """What a strict HTTP/1.x front end (Apache httpd here) refuses before the WAF runs.

    Returns the reason, or None when the request reaches the WAF. May rewrite the request the
    way the front end does (chunked bodies are de-chunked and Content-Length dropped).
    """
    if req.bare_lf:
        return "400: bare LF line ending"
    if not _TOKEN.match(req.method):
        return "400: method is not a token"
    m = _VERSION.match(req.version)
    if m is None or m.group(1) == "0":
        return "400: bad HTTP version"
    uri = req.uri
    if not uri or any(c in uri for c in " #") or any(ord(c) < 0x20 for c in uri):
        return "400: bad request target"
    if uri.startswith("\\") or (req.method == "CONNECT" and not re.search(r":[0-9]+$", uri)):
        return "400: bad request target"
    authority = re.match(r"^(?:[A-Za-z][A-Za-z0-9+.-]*://)?([^/:?]+)(?::[0-9]+)?", uri)
    if authority and (req.method == "CONNECT" or "://" in uri):
        # the host of an absolute request target replaces the Host header
        req.headers = [(k, authority.group(1) if k.lower() == "host" else v)
                       for k, v in req.headers]
    hosts = [v for k, v in req.headers if k.lower() == "host"]
    if (not hosts and req.version == "HTTP/1.1") or any(not _HOST.match(h) or not h
                                                         for h in hosts):
        return "400: bad Host"
    for k, v in req.headers:
        if not _TOKEN.match(k) or "\r" in v or "\n" in v:
            return "400: bad header"
    te = [v for k, v in req.headers if k.lower() == "transfer-encoding"]
    if te:
        if te[-1].strip().lower() != "chunked":
            return "501: unsupported transfer coding"
        body = _dechunk(req.body)
        if body is None:
            return "400: bad chunked body"
        req.headers = [(k, v) for k, v in req.headers if k.lower() != "content-length"]
        req.body = body
        return None
    lengths = [v for k, v in req.headers if k.lower() == "content-length"]
    for v in lengths:
        if not v.strip().isdigit():
            return "400: bad Content-Length"
    if lengths and int(lengths[-1]) > len(req.body):
        return "timeout: body shorter than Content-Length"
    if lengths:
        req.body = req.body[: int(lengths[-1])]
    return None


def run_request(new_tx: Callable[[], Transaction], req: FtwRequest,
                client_ip: str = "127.0.0.1") -> Transaction:
    """Send one request through a transaction, with a stand-in backend response (200
    text/html, or 501 for a method the server does not know)."""
    tx = new_tx()
    tx.process_connection(client_ip, 40000, "127.0.0.1", 80)
    tx.process_uri(req.method, req.uri, req.version)
    for k, v in req.headers:
        tx.add_request_header(k, v.encode("utf-8", errors="surrogateescape").decode("latin-1"))
    if tx.process_request_headers() is None:
        if tx.process_request_body(req.body[:MAX_BODY]) is None:
            status = 200 if req.method in KNOWN_METHODS else 501
            tx.process_response_headers(status, [("Content-Type", "text/html; charset=utf-8")])
            tx.process_response_body(b"")
    tx.process_logging()
    return tx


def logged_ids(tx: Transaction) -> set[int]:
    return {m.id for m in tx.matched}


def run_stage(new_tx: Callable[[], Transaction], title: str, file: str,
              stage: dict[str, Any], strict_http: bool = True) -> StageResult:
    body = stage.get("stage", stage)
    inp = body.get("input") or {}
    out = body.get("output") or {}
    req = build_request(inp)
    rejected = front_end(req) if strict_http else None
    fired: tuple[int, ...] = ()
    log = ""
    if rejected is None:
        tx = run_request(new_tx, req)
        fired = tuple(sorted(logged_ids(tx)))
        log = "\n".join(m.log_line() for m in tx.matched)
    checks: list[tuple[bool, str]] = []
    for key, negate in (("log_contains", False), ("no_log_contains", True)):
        if key not in out:
            continue
        pattern = str(out[key])
        try:
            present = re.search(pattern, log) is not None
        except re.error:
            present = pattern in log
        ok = present != negate
        checks.append((ok, f"{'unexpected' if negate else 'missing'} {pattern!r} in the log"))
    if not checks and rejected is not None:
        # the front end answers before the WAF: that answer is checkable
        code = rejected.split(":", 1)[0]
        status = out.get("status")
        if status is not None and code.isdigit():
            wanted = [int(x) for x in (status if isinstance(status, list) else [status])]
            checks.append((int(code) in wanted, f"front end answers {rejected}, "
                                                f"expected status {wanted}"))
        elif out.get("expect_error") and code == "timeout":
            checks.append((True, ""))
    if not checks:
        if rejected is not None:
            return StageResult(title, file, "skip", f"front end answers {rejected}", fired)
        kinds = ", ".join(sorted(k for k in out)) or "nothing"
        return StageResult(title, file, "skip", f"not checkable in-process ({kinds})", fired)
    failed = [msg for ok, msg in checks if not ok]
    if failed:
        return StageResult(title, file, "fail", "; ".join(failed), fired)
    return StageResult(title, file, "pass", "", fired)


def load_tests(dirs: Sequence[str | Path]) -> list[TestCase]:
    """Every enabled test of the YAML files under ``dirs``; later dirs replace earlier
    files with the same relative path (so a backports tree can overlay a release tree)."""
    files: dict[str, Path] = {}
    for d in dirs:
        root = Path(d)
        if root.is_file():
            files[root.name] = root
            continue
        if not root.is_dir():
            raise ConfigError(f"no such test directory: {root}")
        for p in sorted(root.rglob("*.yaml")) + sorted(root.rglob("*.yml")):
            files[str(p.relative_to(root))] = p
    cases: list[TestCase] = []
    seen: dict[str, int] = {}
    for rel in sorted(files):
        path = files[rel]
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"bad YAML: {exc}", file=str(path)) from exc
        if not isinstance(doc, dict):
            continue
        meta = doc.get("meta") or {}
        if meta.get("enabled", True) is False:
            continue
        for t in doc.get("tests") or []:
            title = str(t.get("test_title"))
            seen[title] = seen.get(title, 0) + 1
            if seen[title] > 1:
                title = f"{title}#{seen[title]}"
            cases.append(TestCase(title, rel, list(t.get("stages") or [])))
    return cases


def load_overrides(path: str | Path) -> dict[str, Override]:
    """``- {test_title: 920100-8, reason: ..., expect: fail|skip}`` entries."""
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or []
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read overrides: {exc}", file=str(path)) from exc
    if isinstance(doc, dict):
        doc = doc.get("overrides") or []
    out: dict[str, Override] = {}
    for i, item in enumerate(doc):
        if not isinstance(item, dict) or "test_title" not in item:
            raise ConfigError("each override needs test_title", file=str(path), key=str(i))
        expect = str(item.get("expect", "fail"))
        if expect not in ("fail", "skip"):
            raise ConfigError("expect must be fail or skip", file=str(path), key=str(i))
        if not item.get("reason"):
            raise ConfigError("each override needs a reason", file=str(path), key=str(i))
        out[str(item["test_title"])] = Override(str(item["test_title"]), expect,
                                                str(item["reason"]))
    return out


def run_tests(
    new_tx: Callable[[], Transaction], cases: Iterable[TestCase],
    overrides: dict[str, Override] | None = None, strict_http: bool = True,
) -> list[StageResult]:
    """Run every stage (``expect: skip`` overrides are not run) and apply the overrides."""
    ov = overrides or {}
    results: list[StageResult] = []
    for case in cases:
        o = ov.get(case.title)
        for i, stage in enumerate(case.stages):
            title = case.title if len(case.stages) == 1 else f"{case.title}/{i + 1}"
            if o is not None and o.expect == "skip":
                results.append(StageResult(title, case.file, "skip", f"override: {o.reason}",
                                           overridden=True))
                continue
            results.append(run_stage(new_tx, title, case.file, stage, strict_http))
    return apply_overrides(results, ov)


def apply_overrides(results: Sequence[StageResult],
                    overrides: dict[str, Override]) -> list[StageResult]:
    """``expect: fail`` turns a failure into a pass and a pass into a failure (strict)."""
    out: list[StageResult] = []
    for r in results:
        o = overrides.get(r.title.split("/")[0])
        if o is not None and o.expect == "fail" and r.outcome != "skip" and not r.overridden:
            if r.outcome == "fail":
                r = StageResult(r.title, r.file, "pass", f"expected failure: {o.reason}",
                                r.fired, overridden=True)
            else:
                r = StageResult(r.title, r.file, "fail",
                                f"passes but is listed as a known failure ({o.reason})",
                                r.fired, overridden=True)
        out.append(r)
    return out


def summary(results: Sequence[StageResult]) -> str:
    passed = sum(1 for r in results if r.outcome == "pass")
    failed = sum(1 for r in results if r.outcome == "fail")
    return f"{passed} passed, {failed} failed"
