"""The request as the Web ACL sees it: raw parts, parsed lazily and at most once.

AWS WAF inspects the request as it arrived (the URI path and query string still percent-encoded;
rules add ``URL_DECODE`` when they want decoding), so the view keeps raw text and hands out bytes.
Cookies and query arguments are split on first use only, because most requests never reach a
rule that reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bastion.pipeline import Request

__all__ = ["WafRequest", "split_query"]


def split_query(query: str, *, semicolons: bool = False,
                combine: bool = False) -> list[tuple[str, str]]:
    """Split a raw query string into ``(name, value)`` pairs, still percent-encoded.

    ``semicolons`` treats ``;`` as ``&`` and ``combine`` joins repeated names with a comma, which
    are AWS's REPLACE_SEMICOLONS_WITH_AMPERSANDS and COMBINE_DUPLICATE_QUERY_ARGS_BY_COMMA.
    """
    if semicolons:
        query = query.replace(";", "&")
    out: list[tuple[str, str]] = []
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        out.append((name, value))
    if combine:
        merged: dict[str, list[str]] = {}
        order: list[str] = []
        for name, value in out:
            low = name.lower()
            if low not in merged:
                merged[low] = []
                order.append(name)
            merged[low].append(value)
        out = [(n, ",".join(merged[n.lower()])) for n in order]
    return out


@dataclass(slots=True)
class WafRequest:
    """What a Web ACL inspects. ``uri_path`` and ``query`` are raw (percent-encoded)."""

    method: str
    uri_path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""
    client_ip: str = "127.0.0.1"
    http_version: str = "1.1"
    scheme: str = "http"
    host: str = ""
    request_id: str = ""
    _cookies: list[tuple[str, str]] | None = field(default=None, repr=False)
    _args: list[tuple[str, str]] | None = field(default=None, repr=False)

    @classmethod
    def from_pipeline(cls, req: Request, request_id: str = "") -> WafRequest:
        return cls(
            method=req.method,
            uri_path=req.raw_path,
            query=req.query_string,
            headers=req.headers.items(),
            body=req.body,
            client_ip=req.client_ip,
            http_version=req.http_version,
            scheme=req.scheme,
            host=req.host or (req.headers.get("host") or ""),
            request_id=request_id,
        )

    def header_values(self, name: str) -> list[str]:
        low = name.lower()
        return [v for k, v in self.headers if k.lower() == low]

    def header(self, name: str) -> str | None:
        vals = self.header_values(name)
        return vals[0] if vals else None

    @property
    def query_args(self) -> list[tuple[str, str]]:
        if self._args is None:
            self._args = split_query(self.query)
        return self._args

    @property
    def cookies(self) -> list[tuple[str, str]]:
        """Every ``name=value`` of every Cookie header, in order, untrimmed of inner spaces."""
        if self._cookies is None:
            out: list[tuple[str, str]] = []
            for raw in self.header_values("cookie"):
                for part in raw.split(";"):
                    part = part.strip()
                    if not part:
                        continue
                    name, _, value = part.partition("=")
                    out.append((name.strip(), value.strip()))
            self._cookies = out
        return self._cookies

    def cookie(self, name: str) -> str | None:
        for k, v in self.cookies:
            if k == name:
                return v
        return None
