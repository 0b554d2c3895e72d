"""The ``edge:`` section: how an edge instance treats what it forwards to its origin.

::

    edge:
      origins: [http://127.0.0.1:9001]   # http_proxy origins treated as protected (default all)
      region: us-east-1
      service: execute-api
      signing: always                    # always | no-override | never (CloudFront OAC's terms)
      signed_headers: [host, content-type, x-forwarded-for]
      rewrite_host: true                 # Host: the origin's authority, as the signature says
      forwarded_for: replace             # replace: X-Forwarded-For is the client's address only;
                                         # append: keep what the client sent, add its address
      payload: signed                    # signed | unsigned | auto (unsigned above the limit)
      max_signed_body_bytes: 10485760    # with payload: signed, larger bodies are refused (413)
      set_headers:                       # injected, replacing any client value (never logged)
        x-api-key: {env: EDGE_API_KEY}
        x-origin-verify: {file: origin-secret.txt}    # re-read when it changes (rotation)
      credentials:                       # short-lived, from the gateway's credential endpoint
        endpoint: http://127.0.0.1:9001/_bastion/sts/assume-role
        role: edge-signer
        bootstrap_token_env: EDGE_BOOTSTRAP_TOKEN    # omit when tls.cert_file authenticates
        duration_s: 900
        refresh_at: 0.8                  # fraction of the lifetime
        max_age_s: 300                   # optional: refresh at least this often
      tls: {ca_file: ca.pem, cert_file: edge.pem, key_file: edge-key.pem}
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bastion.auth.secret import Secret
from bastion.config import Problems, Section
from bastion.edge.signing import DEFAULT_SIGNED_HEADERS
from bastion.http.upstream import Origin

__all__ = ["CredentialSettings", "EdgeSettings", "HeaderSource", "TlsSettings"]

_SIGNING = ("always", "no-override", "never")
_PAYLOAD = ("signed", "unsigned", "auto")


class HeaderSource:
    """An injected header's value: from the environment (fixed) or a file (its first non-blank
    line, re-read whenever the file changes, so a secret rotates without a restart)."""

    def __init__(self, *, env: str | None = None, file: Path | None = None,
                 value: str | None = None) -> None:
        self._file = file
        self._stamp: tuple[int, int] | None = None
        self._value: Secret | None = None
        if env is not None:
            self._value = Secret(os.environ.get(env, ""))
        elif value is not None:
            self._value = Secret(value)
        elif file is not None:
            self._read()

    def __repr__(self) -> str:
        return f"HeaderSource(file={self._file})" if self._file else "HeaderSource(**********)"

    def _read(self) -> None:
        assert self._file is not None
        try:
            st = self._file.stat()
            stamp = (st.st_mtime_ns, st.st_size)
            if stamp == self._stamp:
                return
            text = self._file.read_text(encoding="utf-8")
        except OSError:
            return  # keep the last value: a rotation in progress must not blank the header
        line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
        if line:
            self._value = Secret(line)
            self._stamp = stamp

    def value(self) -> Secret | None:
        if self._file is not None:
            self._read()
        return self._value


@dataclass(frozen=True, slots=True)
class TlsSettings:
    ca_file: Path | None
    cert_file: Path | None
    key_file: Path | None

    def context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if self.cert_file is not None:
            ctx.load_cert_chain(str(self.cert_file),
                                str(self.key_file) if self.key_file else None)
        return ctx


@dataclass(frozen=True, slots=True)
class CredentialSettings:
    endpoint: Origin | None
    path: str
    role: str
    session_name: str
    duration_s: int
    refresh_at: float
    max_age_s: float | None
    token: Secret | None
    static_access_key: str | None
    static_secret: Secret | None


@dataclass(frozen=True, slots=True)
class EdgeSettings:
    origins: tuple[Origin, ...]
    region: str
    service: str
    signing: str
    signed_headers: tuple[str, ...]
    rewrite_host: bool
    forwarded_for: str
    payload: str
    max_signed_body_bytes: int
    set_headers: tuple[tuple[str, HeaderSource], ...]
    credentials: CredentialSettings | None
    tls: TlsSettings | None

    @classmethod
    def parse(cls, data: Any, *, file: str, base: Path, region: str) -> EdgeSettings:
        problems = Problems()
        sec = Section(data, file=file, path="edge", problems=problems)
        origins: list[Origin] = []
        for _, item in sec.items("origins"):
            origin = _origin(str(item))
            if origin is None:
                sec.error(f"not an http(s)://host[:port] origin: {item!r}", "origins")
            else:
                origins.append(origin)
        region = sec.get("region", str, region)
        service = sec.get("service", str, "execute-api")
        signing = sec.get("signing", str, "always", choices=_SIGNING)
        signed = tuple(str(h).lower() for h in sec.get("signed_headers", list,
                                                         list(DEFAULT_SIGNED_HEADERS)))
        rewrite = sec.get("rewrite_host", bool, True)
        xff = sec.get("forwarded_for", str, "replace", choices=("replace", "append"))
        payload = sec.get("payload", str, "signed", choices=_PAYLOAD)
        limit = sec.get("max_signed_body_bytes", int, 10 * 1024 * 1024)
        headers = _set_headers(sec.section("set_headers"), base)
        creds = _credentials(sec.section("credentials"), base) if sec.has("credentials") \
            else None
        if signing != "never" and creds is None:
            sec.error("signing needs edge.credentials (or signing: never)", "signing")
        tls = _tls(sec.section("tls"), base) if sec.has("tls") else None
        sec.done()
        problems.raise_if_any()
        return cls(tuple(origins), region, service, signing, signed, rewrite, xff, payload,
                   limit, headers, creds, tls)


def _origin(url: str) -> Origin | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    tls = parts.scheme == "https"
    return Origin(parts.hostname, parts.port or (443 if tls else 80), tls)


def _set_headers(sec: Section, base: Path) -> tuple[tuple[str, HeaderSource], ...]:
    out: list[tuple[str, HeaderSource]] = []
    for name in list(sec.data):
        spec = sec.raw(name)
        if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in (
                "env", "file", "value"):
            sec.error("must be {env: NAME}, {file: PATH} or {value: TEXT}", name)
            continue
        kind, ref = next(iter(spec.items()))
        ref = str(ref)
        if kind == "env":
            if not os.environ.get(ref):
                sec.error(f"environment variable {ref!r} is unset or empty", name)
                continue
            out.append((name.lower(), HeaderSource(env=ref)))
        elif kind == "file":
            path = base / ref
            if not path.is_file():
                sec.error(f"file not found: {path}", name)
                continue
            out.append((name.lower(), HeaderSource(file=path)))
        else:
            out.append((name.lower(), HeaderSource(value=ref)))
    sec.done()
    return tuple(out)


def _credentials(sec: Section, base: Path) -> CredentialSettings:
    endpoint_url = sec.get("endpoint", str, "")
    endpoint = _origin(endpoint_url) if endpoint_url else None
    path = urlsplit(endpoint_url).path or "/_bastion/sts/assume-role"
    if endpoint_url and endpoint is None:
        sec.error("must be an http(s):// URL", "endpoint")
    role = sec.get("role", str, "")
    session = sec.get("session_name", str, "edge")
    duration = sec.get("duration_s", int, 900)
    refresh_at = sec.get("refresh_at", float, 0.8)
    if not 0.0 < refresh_at < 1.0:
        sec.error("must be a fraction of the lifetime, in (0, 1)", "refresh_at")
        refresh_at = 0.8
    max_age = sec.get("max_age_s", float, 0.0) or None
    if max_age is not None and max_age <= 0:
        sec.error("must be positive", "max_age_s")
    token_env = sec.get("bootstrap_token_env", str, "")
    token = None
    if token_env:
        value = os.environ.get(token_env)
        if not value:
            sec.error(f"environment variable {token_env!r} is unset or empty",
                      "bootstrap_token_env")
        else:
            token = Secret(value)
    ak_env = sec.get("access_key_env", str, "")
    sk_env = sec.get("secret_key_env", str, "")
    static_ak = os.environ.get(ak_env) if ak_env else None
    static_sk = Secret(os.environ.get(sk_env, "")) if sk_env else None
    if endpoint is None and not (static_ak and static_sk):
        sec.error("set endpoint (short-lived credentials) or access_key_env/secret_key_env")
    if endpoint is not None and not role:
        sec.error("is required with endpoint", "role")
    sec.done()
    return CredentialSettings(endpoint, path, role, session, duration, refresh_at, max_age,
                              token, static_ak, static_sk)


def _tls(sec: Section, base: Path) -> TlsSettings:
    def path(key: str) -> Path | None:
        value = sec.get(key, str, "")
        if not value:
            return None
        p = base / value
        if not p.is_file():
            sec.error(f"file not found: {p}", key)
        return p
    out = TlsSettings(path("ca_file"), path("cert_file"), path("key_file"))
    sec.done()
    return out
