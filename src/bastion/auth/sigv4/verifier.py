"""Server-side SigV4 verification with AWS's exact failure texts.

The verifier takes the request as the gateway has it on the wire — method, raw path, raw query
string, header pairs, body bytes — and returns a ``VerifyResult`` value. The order of checks
follows API Gateway: is there a signature at all (else 403 Missing Authentication Token), is the
Authorization header / query well-formed (IncompleteSignatureException), is the credential scope
right and the timestamp fresh (InvalidSignatureException), is the key known and its session token
valid, and finally does the signature match (constant-time) — on mismatch the message carries the
canonical request and string to sign the server computed, as AWS's does, so a client can diff.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote

from bastion.auth.replay import NonceCache
from bastion.clock import Clock

from ._canonical import (
    ALGORITHM,
    TERMINATOR,
    CanonicalRequest,
    canonical_headers,
    canonical_path,
    canonical_query,
    credential_scope,
    derive_signing_key,
    hex_sha256,
    sign_string,
    string_to_sign,
)
from ._dates import format_amz_date, parse_amz_date, parse_http_date
from ._keys import KeyResolver, ResolvedKey
from ._result import (
    EXPIRED_TOKEN,
    INCOMPLETE_SIGNATURE,
    INVALID_SIGNATURE,
    MISSING_TOKEN,
    UNRECOGNIZED_CLIENT,
    SigV4Failure,
    SigV4Success,
    VerifyResult,
)

__all__ = ["SigV4Verifier", "VerifierOptions"]

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MISMATCH_TEXT = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
INVALID_TOKEN_TEXT = "The security token included in the request is invalid."
EXPIRED_TOKEN_TEXT = "The security token included in the request is expired"
_MAX_AUTH_LEN = 16_384
_PAIR_SEPARATORS = re.compile(r"[,\s]+")  # AWS splits the parameters on commas and spaces
_MAX_SIGNED_HEADERS = 64
_PRESIGN_PARAMS = (
    "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date",
    "X-Amz-SignedHeaders", "X-Amz-Expires",
)


@dataclass(frozen=True, slots=True)
class VerifierOptions:
    """Verifier policy. Defaults are API Gateway's (execute-api, 5-minute skew both ways).

    ``allow_unsigned_payload``: accept ``x-amz-content-sha256: UNSIGNED-PAYLOAD`` (an S3 feature;
    off by default). ``accept_unsigned_session_token``: accept a session token that was added
    after signing (not in the signed headers / canonical query), which some AWS services do.
    ``normalize_path=False`` selects S3-style canonical paths. ``max_presign_expires`` bounds
    ``X-Amz-Expires`` (7 days as S3 documents).
    """

    regions: tuple[str, ...] = ("us-east-1",)
    service: str = "execute-api"
    max_skew: float = 300.0
    normalize_path: bool = True
    allow_unsigned_payload: bool = False
    accept_unsigned_session_token: bool = True
    max_presign_expires: int = 604_800


def _fail(error_type: str, message: str, reason: str) -> SigV4Failure:
    return SigV4Failure(error_type=error_type, message=message, reason=reason)


def _query_params(raw_query: str) -> dict[str, str]:
    """Decoded first values of the query parameters (for the X-Amz-* presign fields)."""
    out: dict[str, str] = {}
    for piece in raw_query.split("&"):
        if not piece:
            continue
        name, _, value = piece.partition("=")
        out.setdefault(unquote(name), unquote(value))
    return out


@dataclass(frozen=True, slots=True)
class _Parsed:
    access_key: str
    scope_date: str
    region: str
    service: str
    terminator: str
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str
    signed_at: float
    presigned: bool
    expires: int
    token: str | None
    token_signed: bool


class SigV4Verifier:
    """Verifies SigV4 (header and presigned forms) against keys from a ``KeyResolver``.

    ``nonces``, when given, turns on replay protection: each signature is accepted once within
    the window where it could still verify.
    """

    __slots__ = ("_clock", "_keys", "_nonces", "_opts")

    def __init__(
        self, keys: KeyResolver, clock: Clock, options: VerifierOptions | None = None,
        *, nonces: NonceCache | None = None,
    ) -> None:
        self._keys = keys
        self._clock = clock
        self._opts = options or VerifierOptions()
        self._nonces = nonces

    @property
    def options(self) -> VerifierOptions:
        return self._opts

    def verify(
        self, method: str, raw_path: str, raw_query: str,
        headers: Sequence[tuple[str, str]], body: bytes,
    ) -> VerifyResult:
        """Verify one request; never raises for client input."""
        lowered = [(n.lower(), v) for n, v in headers]
        parsed = self._parse(lowered, raw_query)
        if isinstance(parsed, SigV4Failure):
            return parsed
        failure = self._check_scope_and_time(parsed)
        if failure is not None:
            return failure
        key = self._keys.resolve(parsed.access_key)
        failure = self._check_key(key, parsed)
        if failure is not None or key is None:
            return failure or _fail(UNRECOGNIZED_CLIENT, INVALID_TOKEN_TEXT, "unknown_key")
        payload_hash = self._payload_hash(lowered, body)
        if isinstance(payload_hash, SigV4Failure):
            return payload_hash
        failure = self._check_signature(key, parsed, method, raw_path, raw_query, lowered,
                                        payload_hash)
        if failure is not None:
            return failure
        if self._nonces is not None:
            window = parsed.expires if parsed.presigned else self._opts.max_skew
            ttl = parsed.signed_at + window - self._clock.time() + 1.0
            if self._nonces.seen(f"sigv4:{parsed.access_key}:{parsed.signature}", ttl):
                return _fail(INVALID_SIGNATURE,
                             "The request signature has already been used.", "replayed")
        return SigV4Success(
            access_key=parsed.access_key, principal=key.principal, signature=parsed.signature,
            signed_at=parsed.signed_at, region=parsed.region, service=parsed.service,
            presigned=parsed.presigned, temporary=key.session_token is not None,
        )

    # -- parsing -----------------------------------------------------------------------------

    def _parse(self, headers: list[tuple[str, str]], raw_query: str) -> _Parsed | SigV4Failure:
        auth = next((v for n, v in headers if n == "authorization"), None)
        if auth is not None:
            return self._parse_header_form(auth.strip(), headers)
        params = _query_params(raw_query)
        if any(p in params for p in ("X-Amz-Algorithm", "X-Amz-Signature", "X-Amz-Credential")):
            return self._parse_query_form(params, headers)
        return _fail(MISSING_TOKEN, "Missing Authentication Token", "missing")

    @staticmethod
    def _date_of(headers: list[tuple[str, str]]) -> tuple[str, str] | None:
        for wanted in ("x-amz-date", "date"):
            value = next((v for n, v in headers if n == wanted), None)
            if value is not None:
                return ("X-Amz-Date" if wanted == "x-amz-date" else "Date"), value.strip()
        return None

    def _parse_header_form(
        self, auth: str, headers: list[tuple[str, str]]
    ) -> _Parsed | SigV4Failure:
        if len(auth) > _MAX_AUTH_LEN:
            return _fail(INCOMPLETE_SIGNATURE, "Authorization header is too long.", "malformed")
        scheme, _, rest = auth.partition(" ")
        fields: dict[str, str] = {}
        for piece in _PAIR_SEPARATORS.split(rest):
            if not piece:
                continue
            if "=" not in piece:
                return _fail(
                    INCOMPLETE_SIGNATURE,
                    f"'{piece}' not a valid key=value pair (missing equal-sign) in "
                    f"Authorization header: '{auth}'.",
                    "malformed",
                )
            name, _, value = piece.partition("=")
            fields.setdefault(name, value)
        date = self._date_of(headers)
        missing = [
            f"Authorization header requires '{p}' parameter."
            for p in ("Credential", "Signature", "SignedHeaders") if not fields.get(p)
        ]
        if date is None:
            missing.append(
                "Authorization header requires existence of either a 'X-Amz-Date' or a "
                "'Date' header."
            )
        if missing:
            return _fail(INCOMPLETE_SIGNATURE, " ".join(missing) + f" Authorization={auth}",
                         "malformed")
        if scheme != ALGORITHM:
            return _fail(INCOMPLETE_SIGNATURE, f"Unsupported AWS 'algorithm': '{scheme}'.",
                         "malformed")
        assert date is not None
        token = next((v.strip() for n, v in headers if n == "x-amz-security-token"), None)
        signed = tuple(h.strip().lower() for h in fields["SignedHeaders"].split(";") if h.strip())
        return self._finish(
            fields["Credential"], signed, fields["Signature"], date, presigned=False,
            expires=0, token=token, token_signed="x-amz-security-token" in signed,
        )

    def _parse_query_form(
        self, params: dict[str, str], headers: list[tuple[str, str]]
    ) -> _Parsed | SigV4Failure:
        missing = [p for p in _PRESIGN_PARAMS if not params.get(p)]
        if missing:
            text = " ".join(f"AWS query-string parameters must include '{p}'." for p in missing)
            return _fail(INCOMPLETE_SIGNATURE, text + " Re-examine the query-string parameters.",
                         "malformed")
        if params["X-Amz-Algorithm"] != ALGORITHM:
            return _fail(INCOMPLETE_SIGNATURE,
                         f"Unsupported AWS 'algorithm': '{params['X-Amz-Algorithm']}'.",
                         "malformed")
        raw_expires = params["X-Amz-Expires"]
        if not raw_expires.isdigit() or len(raw_expires) > 9:
            return _fail(INCOMPLETE_SIGNATURE,
                         f"X-Amz-Expires should be a number, not '{raw_expires}'.", "malformed")
        expires = int(raw_expires)
        if expires > self._opts.max_presign_expires:
            return _fail(
                INCOMPLETE_SIGNATURE,
                "X-Amz-Expires must be less than a week (in seconds) that is "
                f"{self._opts.max_presign_expires}",
                "malformed",
            )
        signed = tuple(h.strip().lower() for h in params["X-Amz-SignedHeaders"].split(";")
                       if h.strip())
        token = params.get("X-Amz-Security-Token")
        return self._finish(
            params["X-Amz-Credential"], signed, params["X-Amz-Signature"],
            ("X-Amz-Date", params["X-Amz-Date"]), presigned=True, expires=expires,
            token=token, token_signed=token is not None,
        )

    def _finish(
        self, credential: str, signed: tuple[str, ...], signature: str,
        date: tuple[str, str], *, presigned: bool, expires: int, token: str | None,
        token_signed: bool,
    ) -> _Parsed | SigV4Failure:
        parts = credential.split("/")
        if len(parts) != 5:
            return _fail(
                INCOMPLETE_SIGNATURE,
                "Credential must have exactly 5 slash-delimited elements, "
                f"e.g. keyid/date/region/service/term, got '{credential}'",
                "malformed",
            )
        if len(signed) > _MAX_SIGNED_HEADERS:
            return _fail(INCOMPLETE_SIGNATURE, "Too many signed headers.", "malformed")
        if "host" not in signed and ":authority" not in signed:
            return _fail(
                INCOMPLETE_SIGNATURE,
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
                "malformed",
            )
        source, raw_date = date
        signed_at = parse_amz_date(raw_date) if source == "X-Amz-Date" else parse_http_date(
            raw_date)
        if signed_at is None:
            return _fail(
                INCOMPLETE_SIGNATURE,
                f"Date must be in ISO-8601 'basic format'. Got '{raw_date}'. "
                "See http://en.wikipedia.org/wiki/ISO_8601",
                "malformed",
            )
        amz_date = format_amz_date(signed_at)
        if source == "X-Amz-Date":
            amz_date = raw_date
        scope_date = parts[1]
        if scope_date != amz_date[:8]:
            return _fail(
                INVALID_SIGNATURE,
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
                f"date from HTTP: '{scope_date}' != '{amz_date[:8]}', from '{source}'.",
                "scope_date",
            )
        return _Parsed(
            access_key=parts[0], scope_date=scope_date, region=parts[2], service=parts[3],
            terminator=parts[4], signed_headers=tuple(sorted(set(signed))),
            signature=signature.strip(), amz_date=amz_date, signed_at=signed_at,
            presigned=presigned, expires=expires, token=token, token_signed=token_signed,
        )

    # -- checks ------------------------------------------------------------------------------

    def _check_scope_and_time(self, p: _Parsed) -> SigV4Failure | None:
        if p.region not in self._opts.regions:
            return _fail(INVALID_SIGNATURE,
                         f"Credential should be scoped to a valid region, not '{p.region}'.",
                         "scope_region")
        if p.service != self._opts.service:
            return _fail(INVALID_SIGNATURE,
                         f"Credential should be scoped to correct service: "
                         f"'{self._opts.service}'.",
                         "scope_service")
        if p.terminator != TERMINATOR:
            return _fail(INVALID_SIGNATURE,
                         "Credential should be scoped with a valid terminator: 'aws4_request', "
                         f"not '{p.terminator}'.",
                         "scope_terminator")
        now = self._clock.time()
        skew = self._opts.max_skew
        minutes = f"{skew / 60:g} min."
        if p.presigned:
            if now > p.signed_at + p.expires:
                return _fail(
                    INVALID_SIGNATURE,
                    f"Signature expired: {p.amz_date} is now earlier than "
                    f"{format_amz_date(now - p.expires)} ({format_amz_date(now)} - "
                    f"{p.expires} sec.)",
                    "expired",
                )
        elif p.signed_at < now - skew:
            return _fail(
                INVALID_SIGNATURE,
                f"Signature expired: {p.amz_date} is now earlier than "
                f"{format_amz_date(now - skew)} ({format_amz_date(now)} - {minutes})",
                "expired",
            )
        if p.signed_at > now + skew:
            return _fail(
                INVALID_SIGNATURE,
                f"Signature not yet current: {p.amz_date} is still later than "
                f"{format_amz_date(now + skew)} ({format_amz_date(now)} + {minutes})",
                "not_yet_current",
            )
        return None

    def _check_key(self, key: ResolvedKey | None, p: _Parsed) -> SigV4Failure | None:
        if key is None:
            return _fail(UNRECOGNIZED_CLIENT, INVALID_TOKEN_TEXT, "unknown_key")
        if key.session_token is None:
            if p.token is not None:
                return _fail(UNRECOGNIZED_CLIENT, INVALID_TOKEN_TEXT, "unexpected_token")
            return None
        if p.token is None or not key.session_token.matches(p.token):
            return _fail(UNRECOGNIZED_CLIENT, INVALID_TOKEN_TEXT, "bad_token")
        if not p.token_signed and not self._opts.accept_unsigned_session_token:
            return _fail(UNRECOGNIZED_CLIENT, INVALID_TOKEN_TEXT, "unsigned_token")
        if key.expires_at is not None and self._clock.time() >= key.expires_at:
            return _fail(EXPIRED_TOKEN, EXPIRED_TOKEN_TEXT, "expired_token")
        return None

    def _payload_hash(
        self, headers: list[tuple[str, str]], body: bytes
    ) -> str | SigV4Failure:
        actual = hex_sha256(body)
        declared = next((v.strip() for n, v in headers if n == "x-amz-content-sha256"), None)
        if declared is None:
            return actual
        if declared == UNSIGNED_PAYLOAD:
            if self._opts.allow_unsigned_payload:
                return UNSIGNED_PAYLOAD
            return _fail(INVALID_SIGNATURE,
                         "UNSIGNED-PAYLOAD is not accepted for this API; sign the payload.",
                         "unsigned_payload")
        if not hmac.compare_digest(declared.lower(), actual):
            return _fail(INVALID_SIGNATURE,
                         "The provided 'x-amz-content-sha256' header does not match what was "
                         "computed.",
                         "payload_hash")
        return actual

    def _canonical(
        self, p: _Parsed, method: str, raw_path: str, raw_query: str,
        headers: list[tuple[str, str]], payload_hash: str, *, omit_token: bool,
    ) -> CanonicalRequest:
        exclude = ["X-Amz-Signature"] if p.presigned else []
        if omit_token:
            exclude.append("X-Amz-Security-Token")
        return CanonicalRequest(
            method=method,
            path=canonical_path(raw_path, normalize=self._opts.normalize_path),
            query=canonical_query(raw_query, exclude=exclude),
            headers=canonical_headers(headers, p.signed_headers),
            signed_headers=";".join(p.signed_headers),
            payload_hash=payload_hash,
        )

    def _check_signature(
        self, key: ResolvedKey, p: _Parsed, method: str, raw_path: str, raw_query: str,
        headers: list[tuple[str, str]], payload_hash: str,
    ) -> SigV4Failure | None:
        scope = credential_scope(p.scope_date, p.region, p.service)
        signing_key = derive_signing_key(key.secret.reveal(), p.scope_date, p.region, p.service)
        attempts = [False]
        if p.presigned and p.token is not None and self._opts.accept_unsigned_session_token:
            attempts.append(True)
        first: tuple[str, str] | None = None
        for omit in attempts:
            creq = self._canonical(p, method, raw_path, raw_query, headers, payload_hash,
                                   omit_token=omit).text
            sts = string_to_sign(p.amz_date, scope, creq)
            expected = sign_string(signing_key, sts)
            if hmac.compare_digest(expected.encode(), p.signature.lower().encode()):
                return None
            first = first or (creq, sts)
        assert first is not None
        creq, sts = first
        return _fail(
            INVALID_SIGNATURE,
            f"{MISMATCH_TEXT}\n\nThe Canonical String for this request should have been\n"
            f"'{creq}'\n\nThe String-to-Sign should have been\n'{sts}'\n",
            "signature_mismatch",
        )
