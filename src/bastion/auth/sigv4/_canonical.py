"""The pure SigV4 algorithm: canonical request, string to sign, signing key, signature.

Both the signer and the verifier build the canonical request from what is on the wire (raw path,
raw query string, header pairs), so the two can never disagree about encoding:

* path: for every service but S3, dot segments and empty segments are removed and each segment
  is URI-encoded *again* (the wire path is already encoded, so ``/a%20b`` signs as ``/a%2520b``);
  S3 style keeps the path as is and encodes it once;
* query: split on ``&``, each name and value decoded once and re-encoded with the RFC 3986
  unreserved set, so a pre-encoded value is not encoded twice; sorted by name, then value;
* headers: lower-cased names, values trimmed with inner whitespace runs (and obsolete line
  folding) collapsed to one space, repeats joined with ``,`` in received order.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes

__all__ = [
    "ALGORITHM",
    "EMPTY_SHA256",
    "CanonicalRequest",
    "canonical_headers",
    "canonical_path",
    "canonical_query",
    "credential_scope",
    "derive_signing_key",
    "hex_sha256",
    "sign_string",
    "string_to_sign",
    "uri_encode",
]

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_UNRESERVED = "-_.~"
_WS = re.compile(r"[ \t\r\n]+")


def hex_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def uri_encode(raw: str | bytes, *, keep_slash: bool = False) -> str:
    """RFC 3986 percent-encoding: unreserved characters kept, everything else ``%XX`` upper-case."""
    return quote(raw, safe=_UNRESERVED + ("/" if keep_slash else ""))


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 plus the AWS rule that empty segments (``//``) collapse."""
    out: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if out:
                out.pop()
            continue
        out.append(segment)
    lead = "/" if path.startswith("/") else ""
    trail = "/" if path.endswith("/") and out else ""
    return lead + "/".join(out) + trail


def canonical_path(raw_path: str, *, normalize: bool = True) -> str:
    """Canonical URI of a wire path.

    ``normalize=True`` (every service except S3, including execute-api): remove dot segments and
    duplicate slashes, then encode the (already encoded) path again. ``normalize=False`` (S3
    style): no normalisation, the path decoded once and encoded once.
    """
    if not raw_path:
        return "/"
    if normalize:
        return uri_encode(_remove_dot_segments(raw_path) or "/", keep_slash=True)
    return uri_encode(unquote_to_bytes(raw_path), keep_slash=True)


def _reencode(part: str) -> str:
    return uri_encode(unquote_to_bytes(part))


def canonical_query(raw_query: str, *, exclude: Iterable[str] = ()) -> str:
    """Canonical query string of a raw (wire) query string, without the names in ``exclude``."""
    skip = set(exclude)
    pairs: list[tuple[str, str]] = []
    for piece in raw_query.split("&"):
        if not piece:
            continue
        name, _, value = piece.partition("=")
        enc_name = _reencode(name)
        if enc_name in skip:
            continue
        pairs.append((enc_name, _reencode(value)))
    pairs.sort()
    return "&".join(f"{n}={v}" for n, v in pairs)


def normalize_header_value(value: str) -> str:
    return _WS.sub(" ", value.strip(" \t\r\n"))


def canonical_headers(
    headers: Sequence[tuple[str, str]], signed: Sequence[str]
) -> str:
    """``name:value\\n`` lines for the ``signed`` names (lower-case, sorted by the caller)."""
    wanted = set(signed)
    grouped: dict[str, list[str]] = {}
    for name, value in headers:
        low = name.lower()
        if low in wanted:
            grouped.setdefault(low, []).append(normalize_header_value(value))
    return "".join(f"{name}:{','.join(grouped.get(name, []))}\n" for name in signed)


@dataclass(frozen=True, slots=True)
class CanonicalRequest:
    """The six parts of a canonical request; ``text`` joins them as AWS does."""

    method: str
    path: str
    query: str
    headers: str
    signed_headers: str
    payload_hash: str

    @property
    def text(self) -> str:
        return "\n".join(
            (self.method, self.path, self.query, self.headers, self.signed_headers,
             self.payload_hash)
        )


def credential_scope(date: str, region: str, service: str) -> str:
    return f"{date}/{region}/{service}/{TERMINATOR}"


def string_to_sign(amz_date: str, scope: str, canonical_request: str) -> str:
    return "\n".join(
        (ALGORITHM, amz_date, scope, hex_sha256(canonical_request.encode("utf-8")))
    )


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.digest(key, msg.encode("utf-8"), "sha256")


@functools.lru_cache(maxsize=256)
def derive_signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request").

    Remembered (256 entries, least recently used out): a key serves every request of its day
    with the same credentials, and deriving it is four HMACs (~6 us of a ~60 us verify). The
    secrets it is keyed by are the key store's own; nothing prints a cache's keys."""
    k_date = _hmac(("AWS4" + secret).encode("utf-8"), date)
    return _hmac(_hmac(_hmac(k_date, region), service), TERMINATOR)


def sign_string(signing_key: bytes, text: str) -> str:
    return hmac.digest(signing_key, text.encode("utf-8"), "sha256").hex()
