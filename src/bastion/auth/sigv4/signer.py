"""Client-side SigV4: sign a request in the header form or presign it in the query form.

The signer computes over exactly what will be on the wire — the URL's raw path and raw query —
with the same canonicalisation as the verifier, so ``bastion sign``/``bastion curl`` and the
gateway agree by construction (and both agree with botocore; see the tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from ._canonical import (
    ALGORITHM,
    CanonicalRequest,
    canonical_headers,
    canonical_path,
    canonical_query,
    credential_scope,
    derive_signing_key,
    hex_sha256,
    sign_string,
    string_to_sign,
    uri_encode,
)
from ._dates import format_amz_date
from ._keys import Credentials

__all__ = ["SignedRequest", "SigningOptions", "presign_url", "sign_headers", "sign_request"]

_NEVER_SIGNED = frozenset({"authorization", "user-agent", "expect", "x-amzn-trace-id"})


@dataclass(frozen=True, slots=True)
class SigningOptions:
    """``sign_payload_header`` adds ``x-amz-content-sha256``; ``unsigned_payload`` signs
    ``UNSIGNED-PAYLOAD`` instead of the body hash; ``omit_session_token`` adds the token after
    signing (services that want it so); ``normalize_path=False`` is S3 style."""

    normalize_path: bool = True
    sign_payload_header: bool = False
    unsigned_payload: bool = False
    omit_session_token: bool = False


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """A signed request plus the intermediate values (for ``bastion sign --verbose``)."""

    url: str
    headers: list[tuple[str, str]]
    canonical_request: str
    string_to_sign: str
    signature: str


def _host_of(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(parts.scheme)
    if parts.port is not None and parts.port != default:
        host += f":{parts.port}"
    return host


def _has(headers: Sequence[tuple[str, str]], name: str) -> bool:
    return any(n.lower() == name for n, _ in headers)


def sign_request(
    method: str, url: str, headers: Sequence[tuple[str, str]], body: bytes,
    credentials: Credentials, region: str, service: str, now: float,
    options: SigningOptions | None = None,
) -> SignedRequest:
    """Header-form signing: returns the headers to send (input + Host, X-Amz-Date,
    X-Amz-Security-Token, Authorization)."""
    opts = options or SigningOptions()
    parts = urlsplit(url)
    amz_date = format_amz_date(now)
    out = [(n, v) for n, v in headers if n.lower() != "authorization"]
    if not _has(out, "host"):
        out.insert(0, ("Host", _host_of(url)))
    token = credentials.session_token.reveal() if credentials.session_token else None
    replaced = {"x-amz-date"} | ({"x-amz-security-token"} if token is not None else set())
    out = [(n, v) for n, v in out if n.lower() not in replaced]
    out.append(("X-Amz-Date", amz_date))
    payload = "UNSIGNED-PAYLOAD" if opts.unsigned_payload else hex_sha256(body)
    if opts.sign_payload_header and not _has(out, "x-amz-content-sha256"):
        out.append(("X-Amz-Content-Sha256", payload))
    if token is not None and not opts.omit_session_token:
        out.append(("X-Amz-Security-Token", token))
    signed = sorted({n.lower() for n, _ in out} - _NEVER_SIGNED)
    creq = CanonicalRequest(
        method=method.upper(),
        path=canonical_path(parts.path, normalize=opts.normalize_path),
        query=canonical_query(parts.query),
        headers=canonical_headers(out, signed),
        signed_headers=";".join(signed),
        payload_hash=payload,
    ).text
    date = amz_date[:8]
    scope = credential_scope(date, region, service)
    sts = string_to_sign(amz_date, scope, creq)
    key = derive_signing_key(credentials.secret.reveal(), date, region, service)
    signature = sign_string(key, sts)
    if token is not None and opts.omit_session_token:
        out.append(("X-Amz-Security-Token", token))
    out.append((
        "Authorization",
        f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={';'.join(signed)}, Signature={signature}",
    ))
    return SignedRequest(url=url, headers=out, canonical_request=creq, string_to_sign=sts,
                         signature=signature)


def sign_headers(
    method: str, url: str, headers: Sequence[tuple[str, str]], body: bytes,
    credentials: Credentials, region: str, service: str, now: float,
    options: SigningOptions | None = None,
) -> list[tuple[str, str]]:
    """The headers to send for a header-form signed request (see ``sign_request``)."""
    return sign_request(method, url, headers, body, credentials, region, service, now,
                        options).headers


def presign_url(
    method: str, url: str, headers: Sequence[tuple[str, str]], body: bytes,
    credentials: Credentials, region: str, service: str, now: float, *,
    expires: int = 300, options: SigningOptions | None = None,
) -> SignedRequest:
    """Query-form (presigned) signing; the returned ``url`` carries every X-Amz-* parameter.

    Signed headers are Host plus the given headers; those must be sent with the URL.
    """
    opts = options or SigningOptions()
    parts = urlsplit(url)
    amz_date = format_amz_date(now)
    date = amz_date[:8]
    scope = credential_scope(date, region, service)
    out = [(n, v) for n, v in headers if n.lower() != "authorization"]
    if not _has(out, "host"):
        out.insert(0, ("Host", _host_of(url)))
    signed = sorted({n.lower() for n, _ in out} - _NEVER_SIGNED)
    token = credentials.session_token.reveal() if credentials.session_token else None
    added = [
        ("X-Amz-Algorithm", ALGORITHM),
        ("X-Amz-Credential", f"{credentials.access_key}/{scope}"),
        ("X-Amz-Date", amz_date),
        ("X-Amz-Expires", str(expires)),
        ("X-Amz-SignedHeaders", ";".join(signed)),
    ]
    if token is not None and not opts.omit_session_token:
        added.append(("X-Amz-Security-Token", token))
    encoded = "&".join(f"{uri_encode(n)}={uri_encode(v)}" for n, v in added)
    query = f"{parts.query}&{encoded}" if parts.query else encoded
    payload = "UNSIGNED-PAYLOAD" if opts.unsigned_payload else hex_sha256(body)
    creq = CanonicalRequest(
        method=method.upper(),
        path=canonical_path(parts.path, normalize=opts.normalize_path),
        query=canonical_query(query),
        headers=canonical_headers(out, signed),
        signed_headers=";".join(signed),
        payload_hash=payload,
    ).text
    sts = string_to_sign(amz_date, scope, creq)
    key = derive_signing_key(credentials.secret.reveal(), date, region, service)
    signature = sign_string(key, sts)
    if token is not None and opts.omit_session_token:
        query += f"&X-Amz-Security-Token={uri_encode(token)}"
    query += f"&X-Amz-Signature={signature}"
    signed_url = urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
    return SignedRequest(url=signed_url, headers=out, canonical_request=creq,
                         string_to_sign=sts, signature=signature)
