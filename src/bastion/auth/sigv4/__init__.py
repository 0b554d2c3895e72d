"""AWS Signature Version 4: signer and verifier (header and presigned forms).

Public API::

    verifier = SigV4Verifier(keys, clock, VerifierOptions(regions=("us-east-1",)),
                             nonces=MemoryNonceCache(clock))        # nonces: optional replay guard
    result = verifier.verify(method, raw_path, raw_query, header_pairs, body)
    if result.ok:   # SigV4Success: access_key, principal, signature, signed_at, temporary...
        ...
    else:           # SigV4Failure: status (403), error_type (x-amzn-ErrorType), message, body()
        ...

    headers = sign_headers("GET", url, [], b"", Credentials.of(ak, sk), "us-east-1",
                           "execute-api", clock.time())
    presigned = presign_url("GET", url, [], b"", creds, region, service, now, expires=300).url

``keys`` is any ``KeyResolver`` (``resolve(access_key) -> ResolvedKey | None``); the credentials
store (``bastion.auth.credentials.CredentialStore``) is one. Canonicalisation helpers are exported
for tools that want to show their work (``bastion sign --verbose``).
"""

from __future__ import annotations

from ._canonical import (
    CanonicalRequest,
    canonical_headers,
    canonical_path,
    canonical_query,
    derive_signing_key,
    string_to_sign,
)
from ._keys import Credentials, KeyResolver, ResolvedKey, StaticKeys
from ._result import SigV4Failure, SigV4Success, VerifyResult
from .signer import SignedRequest, SigningOptions, presign_url, sign_headers, sign_request
from .verifier import SigV4Verifier, VerifierOptions

__all__ = [
    "CanonicalRequest",
    "Credentials",
    "KeyResolver",
    "ResolvedKey",
    "SigV4Failure",
    "SigV4Success",
    "SigV4Verifier",
    "SignedRequest",
    "SigningOptions",
    "StaticKeys",
    "VerifierOptions",
    "VerifyResult",
    "canonical_headers",
    "canonical_path",
    "canonical_query",
    "derive_signing_key",
    "presign_url",
    "sign_headers",
    "sign_request",
    "string_to_sign",
]
