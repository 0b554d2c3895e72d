"""Redaction: secrets never reach a log line.

Defaults cover what AWS masks in execution logs plus what a gateway sees: ``Authorization``,
``Proxy-Authorization``, ``Cookie``, ``Set-Cookie``, ``X-Amz-Security-Token``, ``X-Api-Key``, and
the SigV4 presigned query parameters (``X-Amz-Signature``, ``X-Amz-Credential``,
``X-Amz-Security-Token``). Operators add header and query/field names; AWS WAF's
``RedactedFields`` list (``SingleHeader``, ``QueryString``, ``UriPath``, ``Method``) is accepted
as-is. Matching is case-insensitive and the value is replaced by ``REDACTED`` so the key stays
visible for debugging. Any rule ``matchedData`` that came out of a redacted value is redacted too,
so a SQLi match inside a cookie cannot leak the cookie.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, quote, unquote_plus

__all__ = ["DEFAULT_FIELDS", "DEFAULT_HEADERS", "DEFAULT_QUERY_PARAMS", "REDACTED", "Redactor"]

REDACTED = "REDACTED"
DEFAULT_HEADERS = frozenset({
    "authorization", "proxy-authorization", "cookie", "set-cookie", "x-amz-security-token",
    "x-api-key",
})
DEFAULT_QUERY_PARAMS = frozenset({"x-amz-signature", "x-amz-credential", "x-amz-security-token"})
# keys of structured values (authorizer context, claims) that are always secret
DEFAULT_FIELDS = frozenset({
    "apikey", "api_key", "password", "secret", "client_secret", "clientsecret", "access_token",
    "accesstoken", "refresh_token", "refreshtoken", "id_token", "idtoken", "secretaccesskey",
    "secret_access_key", "sessiontoken", "session_token",
})


class Redactor:
    """Compiled once from config; applied per record on the logging path."""

    __slots__ = ("_fields", "_headers", "_max_len", "_params", "_secret_headers", "_secret_params",
                 "method", "query_string", "uri_path")

    def __init__(self, *, headers: Iterable[str] = (), query_params: Iterable[str] = (),
                 fields: Iterable[str] = (), query_string: bool = False, uri_path: bool = False,
                 method: bool = False, max_value_length: int = 8192) -> None:
        self._headers = DEFAULT_HEADERS | {h.lower() for h in headers}
        self._params = DEFAULT_QUERY_PARAMS | {p.lower() for p in query_params}
        self._fields = DEFAULT_FIELDS | {f.lower() for f in fields}
        self.query_string, self.uri_path, self.method = query_string, uri_path, method
        self._max_len = max_value_length
        self._secret_headers = self._headers | self._fields
        self._secret_params = self._params | self._fields

    @classmethod
    def from_aws(cls, redacted_fields: Sequence[Mapping[str, Any]], **kw: Any) -> Redactor:
        """Build from a WAFv2 ``LoggingConfiguration.RedactedFields`` list."""
        headers: list[str] = list(kw.pop("headers", ()))
        flags = {"query_string": False, "uri_path": False, "method": False}
        for f in redacted_fields:
            if "SingleHeader" in f:
                headers.append(str(f["SingleHeader"]["Name"]))
            elif "QueryString" in f:
                flags["query_string"] = True
            elif "UriPath" in f:
                flags["uri_path"] = True
            elif "Method" in f:
                flags["method"] = True
            else:
                raise ValueError(f"unsupported RedactedFields entry: {sorted(f)}")
        return cls(headers=headers, query_string=flags["query_string"],
                   uri_path=flags["uri_path"], method=flags["method"], **kw)

    def is_secret_header(self, name: str) -> bool:
        n = name.lower()
        return n in self._headers or n in self._fields

    def is_secret_field(self, name: str) -> bool:
        """For structured values (authorizer context, claims): a configured field name."""
        n = name.lower()
        return n in self._fields or n in self._headers or n in self._params

    def headers(self, pairs: Iterable[tuple[str, str]],
                secrets: list[str] | None = None) -> list[dict[str, str]]:
        """``[{name, value}]`` with secret values replaced; redacted values go to ``secrets``."""
        out = []
        secret = self._secret_headers
        limit = self._max_len
        for name, value in pairs:
            if name.lower() in secret:
                if secrets is not None and value:
                    secrets.append(value)
                value = REDACTED
            elif len(value) > limit:
                value = value[:limit] + "..."
            out.append({"name": name, "value": value})
        return out

    def query(self, qs: str, secrets: list[str] | None = None) -> str:
        """The query string with secret parameter values replaced (order kept)."""
        if not qs:
            return qs
        if self.query_string:
            if secrets is not None:
                secrets.append(qs)
            return REDACTED
        secret = self._secret_params
        keys = (seg.partition("=")[0] for seg in qs.split("&"))
        if not any((unquote_plus(k) if "%" in k or "+" in k else k).lower() in secret
                   for k in keys):
            return qs if len(qs) <= self._max_len else qs[: self._max_len] + "..."
        parts = []
        for k, v in parse_qsl(qs, keep_blank_values=True):
            if k.lower() in secret:
                if secrets is not None and v:
                    secrets.append(v)
                v = REDACTED
            parts.append(f"{quote(k, safe='')}={quote(v, safe='')}")
        return "&".join(parts)

    def mapping(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """A shallow copy of ``data`` with configured/secret keys redacted (nested dicts too)."""
        out: dict[str, Any] = {}
        for k, v in data.items():
            if self.is_secret_field(str(k)):
                out[k] = REDACTED
            elif isinstance(v, Mapping):
                out[k] = self.mapping(v)
            else:
                out[k] = v
        return out

    @staticmethod
    def scrub(values: Iterable[str], secrets: Sequence[str]) -> list[str]:
        """Redact matched fragments that were taken from a redacted value."""
        if not secrets:
            return list(values)
        return [REDACTED if v and any(v in s for s in secrets) else v for v in values]
