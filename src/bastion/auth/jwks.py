"""JSON Web Key Sets: parsed keys, and a cache that fetches them from the issuer.

Why a cache with a bounded refresh: issuers rotate keys (Cognito keeps two per pool), so a token
signed with a ``kid`` we have not seen must trigger a refetch, but an attacker sending random
``kid``s must not turn the gateway into a JWKS-fetching amplifier. A refetch therefore happens at
most once per ``min_refresh_interval`` seconds; in between, unknown ``kid``s are refused.

Offline use: give ``file=`` instead of ``url=`` and no network is touched.
Only keys are parsed here; which key may verify which algorithm is decided in ``jwt.py``.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from bastion.clock import Clock, SystemClock

__all__ = ["JwkKey", "JwksCache", "JwksUnavailable", "KeySet", "fetch_json", "rsa_weakness"]

MAX_JWKS_BYTES = 256 * 1024
MAX_KEYS = 64
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth"})
# The PyJWT algorithm used only to *parse* a key of a given type; the verifying algorithm is the
# token's (allow-listed) one, checked against the key's family in jwt.py.
_PARSE_ALG = {"RSA": "RS256", "oct": "HS256", "OKP": "EdDSA"}
_EC_PARSE_ALG = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512", "secp256k1": "ES256K"}


MIN_RSA_BITS = 2048
MIN_HMAC_BYTES = 32
# ROCA (CVE-2017-15361) fingerprint: moduli made by the vulnerable Infineon generator are, modulo
# each small prime p, a power of 65537; a random modulus passes all these tests with negligible
# probability.
_ROCA_PRIMES = (3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79,
                83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167)


def _subgroup(p: int) -> frozenset[int]:
    out, x = set(), 1
    while x not in out:
        out.add(x)
        x = x * 65537 % p
    return frozenset(out)


_ROCA_GROUPS = tuple((p, _subgroup(p)) for p in _ROCA_PRIMES)


def rsa_weakness(n: int, e: int) -> str | None:
    """Why an RSA public key must not be trusted (small modulus, bad exponent, ROCA), or None."""
    if n.bit_length() < MIN_RSA_BITS:
        return f"RSA modulus of {n.bit_length()} bits is below {MIN_RSA_BITS}"
    if e < 3 or e % 2 == 0:
        return f"RSA public exponent {e} is invalid"
    if all(n % p in group for p, group in _ROCA_GROUPS):
        return "RSA modulus has the ROCA (CVE-2017-15361) fingerprint"
    return None


class JwksUnavailable(Exception):
    """Raised when no key set could be loaded (network error, bad JSON, file missing)."""


@dataclass(frozen=True, slots=True)
class JwkKey:
    """One verification key. ``key`` is a ``cryptography`` public key (or ``bytes`` for ``oct``)."""

    kid: str | None
    kty: str
    alg: str | None
    crv: str | None
    use: str | None
    key_ops: tuple[str, ...] | None
    key: Any

    def __repr__(self) -> str:  # never print key material
        return f"JwkKey(kid={self.kid!r}, kty={self.kty!r}, alg={self.alg!r}, crv={self.crv!r})"


def parse_jwk(data: Mapping[str, Any]) -> JwkKey:
    """Parse one JWK (private members dropped for asymmetric keys). Raises ``ValueError``."""
    kty = data.get("kty")
    if not isinstance(kty, str):
        raise ValueError("JWK without a string 'kty'")
    crv = data.get("crv") if isinstance(data.get("crv"), str) else None
    if kty == "EC":
        parse_alg = _EC_PARSE_ALG.get(crv or "")
    else:
        parse_alg = _PARSE_ALG.get(kty)
    if parse_alg is None:
        raise ValueError(f"unsupported JWK kty/crv {kty}/{crv}")
    public = {k: v for k, v in data.items() if kty == "oct" or k not in _PRIVATE_MEMBERS}
    public.pop("alg", None)  # parsing must not depend on the (possibly bogus) declared alg
    try:
        with warnings.catch_warnings():  # weak keys are refused below, with a reason
            warnings.simplefilter("ignore")
            parsed = jwt.PyJWK(public, algorithm=parse_alg)
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as e:
        raise ValueError(f"unparseable JWK: {type(e).__name__}") from None
    if kty == "RSA":
        nums = parsed.key.public_numbers()
        weak = rsa_weakness(nums.n, nums.e)
        if weak:
            raise ValueError(weak)
    if kty == "oct" and len(parsed.key) < MIN_HMAC_BYTES:
        raise ValueError(f"HMAC key of {len(parsed.key)} bytes is below {MIN_HMAC_BYTES}")
    ops = data.get("key_ops")
    alg, kid, use = data.get("alg"), data.get("kid"), data.get("use")
    return JwkKey(
        kid=kid if isinstance(kid, str) else None,
        kty=kty,
        alg=alg if isinstance(alg, str) else None,
        crv=crv,
        use=use if isinstance(use, str) else None,
        key_ops=tuple(str(o) for o in ops) if isinstance(ops, list) else None,
        key=parsed.key,
    )


@dataclass(frozen=True, slots=True)
class KeySet:
    """Parsed keys plus the reasons any member was skipped."""

    keys: tuple[JwkKey, ...]
    skipped: tuple[str, ...] = ()

    @classmethod
    def from_jwks(cls, doc: Any) -> KeySet:
        if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
            raise JwksUnavailable("JWKS is not an object with a 'keys' list")
        keys: list[JwkKey] = []
        skipped: list[str] = []
        for i, item in enumerate(doc["keys"][:MAX_KEYS]):
            try:
                if not isinstance(item, dict):
                    raise ValueError("not an object")
                keys.append(parse_jwk(item))
            except ValueError as e:
                skipped.append(f"keys[{i}]: {e}")
        kinds = {k.kty == "oct" for k in keys}
        if len(kinds) > 1:
            raise JwksUnavailable("JWKS mixes symmetric (oct) and public keys; refusing it")
        seen: dict[str, int] = {}
        for k in keys:
            if k.kid is not None:
                seen[k.kid] = seen.get(k.kid, 0) + 1
        dup = {kid for kid, n in seen.items() if n > 1}
        if dup:
            skipped.extend(f"kid {kid!r} appears more than once; all its keys ignored"
                           for kid in sorted(dup))
            keys = [k for k in keys if k.kid not in dup]
        return cls(tuple(keys), tuple(skipped))

    def by_kid(self, kid: str) -> JwkKey | None:
        for k in self.keys:
            if k.kid == kid:
                return k
        return None

    def kids(self) -> list[str]:
        return [k.kid or "<no kid>" for k in self.keys]


def fetch_json(url: str, timeout: float) -> Any:
    """GET ``url`` (http/https only, bounded size) and parse JSON; raises ``JwksUnavailable``."""
    if not url.startswith(("https://", "http://")):
        raise JwksUnavailable(f"refusing non-HTTP JWKS URL scheme: {url.split(':', 1)[0]}")
    req = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read(MAX_JWKS_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise JwksUnavailable(f"fetching {url} failed: {type(e).__name__}: {e}") from None
    if len(raw) > MAX_JWKS_BYTES:
        raise JwksUnavailable(f"{url} answered more than {MAX_JWKS_BYTES} bytes")
    try:
        return json.loads(raw)
    except ValueError:
        raise JwksUnavailable(f"{url} did not answer JSON") from None


class JwksCache:
    """Keys for one issuer, loaded lazily, refreshed on unknown ``kid`` at a bounded rate.

    Sources, first match wins: ``keys`` (a JWKS document, tests/offline), ``file`` (a local JWKS),
    ``url``, or OIDC discovery (``discovery_issuer`` -> ``/.well-known/openid-configuration`` ->
    ``jwks_uri``). ``max_age`` (2 h, as the HTTP API caches keys) forces a refetch of old keys;
    a failed refetch keeps the old ones.
    Thread-safe; fetching blocks for at most ``timeout`` seconds (1.5 s, as the HTTP API does).
    """

    def __init__(
        self,
        *,
        url: str | None = None,
        file: str | Path | None = None,
        keys: Mapping[str, Any] | None = None,
        discovery_issuer: str | None = None,
        clock: Clock | None = None,
        timeout: float = 1.5,
        min_refresh_interval: float = 60.0,
        max_age: float = 7200.0,
        fetcher: Callable[[str, float], Any] = fetch_json,
    ) -> None:
        if not (url or file or keys is not None or discovery_issuer):
            raise ValueError("JwksCache needs url, file, keys or discovery_issuer")
        self._url = url
        self._file = Path(file) if file is not None else None
        self._static = keys
        self._discovery = discovery_issuer.rstrip("/") if discovery_issuer else None
        self._clock = clock or SystemClock()
        self._timeout = timeout
        self._min_refresh = min_refresh_interval
        self._max_age = max_age
        self._fetch = fetcher
        self._lock = threading.Lock()
        self._set: KeySet | None = None
        self._loaded_at = float("-inf")
        self._last_attempt = float("-inf")
        self.fetches = 0

    @classmethod
    def for_issuer(cls, issuer: str, **kw: Any) -> JwksCache:
        """The Cognito / common convention: ``{iss}/.well-known/jwks.json``."""
        return cls(url=issuer.rstrip("/") + "/.well-known/jwks.json", **kw)

    @property
    def source(self) -> str:
        if self._static is not None:
            return "<inline JWKS>"
        if self._file is not None:
            return str(self._file)
        return self._url or f"{self._discovery}/.well-known/openid-configuration"

    def _load(self) -> KeySet:
        self.fetches += 1
        if self._static is not None:
            return KeySet.from_jwks(self._static)
        if self._file is not None:
            try:
                text = self._file.read_bytes()[: MAX_JWKS_BYTES + 1]
                return KeySet.from_jwks(json.loads(text))
            except (OSError, ValueError) as e:
                raise JwksUnavailable(f"{self._file}: {type(e).__name__}") from None
        url = self._url
        if url is None:
            assert self._discovery is not None
            meta = self._fetch(self._discovery + "/.well-known/openid-configuration",
                               self._timeout)
            jwks_uri = meta.get("jwks_uri") if isinstance(meta, dict) else None
            if not isinstance(jwks_uri, str):
                raise JwksUnavailable("OIDC discovery document has no jwks_uri")
            url = self._url = jwks_uri
        return KeySet.from_jwks(self._fetch(url, self._timeout))

    def _refresh(self, now: float) -> tuple[bool, str]:
        """Refetch if allowed by the rate bound; returns (refetched, why-not)."""
        if now - self._last_attempt < self._min_refresh:
            wait = self._min_refresh - (now - self._last_attempt)
            return False, f"refresh rate-limited ({wait:.0f}s until next allowed)"
        self._last_attempt = now
        try:
            self._set = self._load()
        except JwksUnavailable as e:
            return False, str(e)
        self._loaded_at = now
        return True, ""

    def lookup(self, kid: str | None) -> tuple[KeySet | None, JwkKey | None, list[str]]:
        """The key set and the key for ``kid`` (refreshing when unknown), plus trace notes."""
        notes: list[str] = []
        with self._lock:
            now = self._clock.monotonic()
            if self._set is None or now - self._loaded_at >= self._max_age:
                ok, why = self._refresh(now)
                notes.append("jwks loaded" if ok else f"jwks load failed: {why}")
            ks = self._set
            if kid is None or ks is None:
                return ks, None, notes
            key = ks.by_kid(kid)
            if key is None:
                ok, why = self._refresh(now)
                notes.append("jwks refreshed for unknown kid" if ok else f"no refresh: {why}")
                ks = self._set
                key = ks.by_kid(kid) if ks is not None else None
            return ks, key, notes
