"""Loaders for the two SigV4 suites copied under tests/vectors/sigv4 (README + LICENSE there)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "vectors" / "sigv4"
ACCESS_KEY = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
NOW = datetime(2015, 8, 30, 12, 36, tzinfo=UTC).timestamp()


@dataclass
class RawRequest:
    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def url(self) -> str:
        host = next(v for n, v in self.headers if n.lower() == "host").strip()
        return f"https://{host}{self.path}" + (f"?{self.query}" if self.query else "")

    def header(self, name: str) -> str | None:
        return next((v.strip() for n, v in self.headers if n.lower() == name), None)


def parse_request(text: str) -> RawRequest:
    """Parse a suite request file: request line, headers with obs-fold, blank line, body."""
    text = text.replace("\r\n", "\n")
    head, sep, body = text.partition("\n\n")
    lines = head.split("\n")
    first = lines[0]
    method, _, rest = first.partition(" ")
    target, _, _version = rest.rpartition(" ")
    path, _, query = target.partition("?")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t" and headers:
            name, value = headers[-1]
            headers[-1] = (name, value + "\n" + line)
            continue
        name, _, value = line.partition(":")
        headers.append((name, value))
    return RawRequest(method, path, query, headers, body.encode() if sep else b"")


@dataclass
class CCase:
    """One aws-c-auth v4 case."""

    name: str
    dir: Path
    context: dict[str, object]

    def read(self, name: str) -> str:
        return (self.dir / name).read_text(encoding="utf-8")

    @property
    def token(self) -> str | None:
        creds = self.context["credentials"]
        assert isinstance(creds, dict)
        token = creds.get("token")
        return token if isinstance(token, str) else None


def c_auth_cases() -> list[CCase]:
    base = ROOT / "aws-c-auth-v4"
    return [
        CCase(d.name, d, json.loads((d / "context.json").read_text()))
        for d in sorted(base.iterdir()) if (d / "context.json").is_file()
    ]


@dataclass
class LegacyCase:
    """One botocore aws4_testsuite case (.req .creq .sts .authz .sreq)."""

    name: str
    dir: Path

    def read(self, ext: str) -> str:
        return (self.dir / f"{self.dir.name}.{ext}").read_text(encoding="utf-8")


def legacy_cases() -> list[LegacyCase]:
    base = ROOT / "botocore-aws4_testsuite"
    found = [p.parent for p in base.rglob("*.req")]
    return [LegacyCase(str(d.relative_to(base)), d) for d in sorted(found)]
