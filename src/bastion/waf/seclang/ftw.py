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
    "run_tests",
]

_ID_RE = re.compile(r'^id\s*"(\d+)"$')
MAX_BODY = 16 * 1024 * 1024


@dataclass(slots=True)
class FtwRequest:
    """One request as ftw would put it on the wire."""

    method: str
    uri: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes


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
    return FtwRequest(method, uri, version, headers, body)


def build_request(inp: dict[str, Any]) -> FtwRequest:
    """An ftw 1.3.0 stage input -> the request it sends."""
    if inp.get("encoded_request"):
        return _parse_raw(base64.b64decode(str(inp["encoded_request"])))
    if inp.get("raw_request"):
        raw = str(inp["raw_request"])
        try:
            data = raw.encode("latin-1")
        except UnicodeEncodeError:
            data = raw.encode("utf-8")
        return _parse_raw(data)
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


def run_request(new_tx: Callable[[], Transaction], req: FtwRequest,
                client_ip: str = "127.0.0.1") -> Transaction:
    """Send one request through a transaction, with a stand-in 200 text/html response."""
    tx = new_tx()
    tx.process_connection(client_ip, 40000, "127.0.0.1", 80)
    tx.process_uri(req.method, req.uri, req.version)
    for k, v in req.headers:
        tx.add_request_header(k, v.encode("utf-8", errors="surrogateescape").decode("latin-1"))
    if tx.process_request_headers() is None:
        if tx.process_request_body(req.body[:MAX_BODY]) is None:
            tx.process_response_headers(200, [("Content-Type", "text/html; charset=utf-8")])
            tx.process_response_body(b"")
    tx.process_logging()
    return tx


def logged_ids(tx: Transaction) -> set[int]:
    return {m.id for m in tx.matched}


def run_stage(new_tx: Callable[[], Transaction], title: str, file: str,
              stage: dict[str, Any]) -> StageResult:
    body = stage.get("stage", stage)
    inp = body.get("input") or {}
    out = body.get("output") or {}
    req = build_request(inp)
    tx = run_request(new_tx, req)
    fired = tuple(sorted(logged_ids(tx)))
    checks: list[tuple[bool, str]] = []
    for key, negate in (("log_contains", False), ("no_log_contains", True)):
        if key not in out:
            continue
        m = _ID_RE.match(str(out[key]).strip())
        if m is None:
            return StageResult(title, file, "skip", f"{key} {out[key]!r} is not an id check",
                               fired)
        rid = int(m.group(1))
        present = rid in fired
        ok = present != negate
        checks.append((ok, f"{'unexpected' if negate else 'missing'} id {rid}"))
    if not checks:
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
    overrides: dict[str, Override] | None = None,
) -> list[StageResult]:
    """Run every stage; ``expect: fail`` turns a failure into a pass (and a pass into a fail)."""
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
            r = run_stage(new_tx, title, case.file, stage)
            if o is not None and o.expect == "fail" and r.outcome != "skip":
                if r.outcome == "fail":
                    r = StageResult(title, case.file, "pass", f"expected failure: {o.reason}",
                                    r.fired, overridden=True)
                else:
                    r = StageResult(title, case.file, "fail",
                                    f"passes but is listed as a known failure ({o.reason})",
                                    r.fired, overridden=True)
            results.append(r)
    return results


def summary(results: Sequence[StageResult]) -> str:
    passed = sum(1 for r in results if r.outcome == "pass")
    failed = sum(1 for r in results if r.outcome == "fail")
    return f"{passed} passed, {failed} failed"
