"""``sign_forwarded`` against the gateway's own verifier: what is sent verifies, and changing
any signed part of it (body, path, query, host, signed headers) does not."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from bastion.auth.secret import Secret
from bastion.auth.sigv4 import (
    Credentials,
    ResolvedKey,
    SigV4Failure,
    SigV4Success,
    SigV4Verifier,
    StaticKeys,
    VerifierOptions,
)
from bastion.clock import FrozenClock
from bastion.edge.signing import sign_forwarded

AK, SK, TOKEN = "ASIAEDGETESTKEY00001", "edge-test-secret-key", "session-token-value-001"


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    target: str
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""


CASES = [
    Case("get", "GET", "/prod/pets"),
    Case("query", "GET", "/prod/pets?b=2&a=1&a=0&empty=&sp=x%20y&plus=a+b"),
    Case("encoded path", "GET", "/prod/pets/it%20em/%C3%A9"),
    Case("post json", "POST", "/prod/pets", [(b"Content-Type", b"application/json")],
         b'{"type": "dog", "price": 10}'),
    Case("binary body", "PUT", "/prod/blob", [(b"content-type", b"application/octet-stream")],
         bytes(range(256)) * 4),
    Case("repeated header", "GET", "/prod/x",
         [(b"X-Forwarded-For", b"203.0.113.9"), (b"x-forwarded-for", b"10.0.0.1")]),
    Case("odd whitespace", "DELETE", "/prod/pets/1",
         [(b"Content-Type", b"  text/plain ;  charset=utf-8 ")]),
]


def _clock() -> FrozenClock:
    return FrozenClock(1_750_000_000.0)


def _verifier(clock: FrozenClock, *, allow_unsigned_payload: bool = False) -> SigV4Verifier:
    keys = StaticKeys([ResolvedKey(AK, Secret(SK), "edge", Secret(TOKEN),
                                   clock.time() + 900)])
    return SigV4Verifier(keys, clock, VerifierOptions(
        regions=("us-east-1",), allow_unsigned_payload=allow_unsigned_payload))


def _send(case: Case, clock: FrozenClock, **kw: Any) -> list[tuple[bytes, bytes]]:
    headers = [(b"host", b"origin.example:9001"), *case.headers,
               (b"x-forwarded-for", b"198.51.100.7"),
               (b"Authorization", b"client's own"), (b"X-Amz-Date", b"19990101T000000Z"),
               (b"user-agent", b"curl/8")]
    return sign_forwarded(case.method, case.target, headers, case.body,
                          Credentials.of(AK, SK, TOKEN), region="us-east-1", now=clock.time(),
                          **kw)


def _verify(verifier: SigV4Verifier, method: str, target: str,
            headers: list[tuple[bytes, bytes]], body: bytes) -> SigV4Success | SigV4Failure:
    path, _, query = target.partition("?")
    pairs = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in headers]
    return verifier.verify(method, path, query, pairs, body)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_what_is_sent_verifies(case: Case) -> None:
    clock = _clock()
    headers = _send(case, clock)
    names = [n.lower() for n, _ in headers]
    assert names.count(b"authorization") == 1 and names.count(b"x-amz-date") == 1
    assert (b"x-amz-security-token", TOKEN.encode()) in [(n.lower(), v) for n, v in headers]
    result = _verify(_verifier(clock), case.method, case.target, headers, case.body)
    assert isinstance(result, SigV4Success), getattr(result, "message", "")
    assert result.access_key == AK


def _replace(headers: list[tuple[bytes, bytes]], name: bytes,
             value: bytes) -> list[tuple[bytes, bytes]]:
    out = [(n, v) for n, v in headers if n.lower() != name]
    return [*out, (name, value)]


TAMPERINGS: dict[str, Callable[..., Any]] = {
    "body": lambda m, t, h, b: (m, t, h, b + b"!"),
    "path": lambda m, t, h, b: (m, t.replace("/prod/", "/prod/admin/"), h, b),
    "query": lambda m, t, h, b: (m, t + ("&" if "?" in t else "?") + "extra=1", h, b),
    "method": lambda m, t, h, b: ("PATCH", t, h, b),
    "host": lambda m, t, h, b: (m, t, _replace(h, b"host", b"other.example"), b),
    "x-forwarded-for": lambda m, t, h, b: (m, t, _replace(h, b"x-forwarded-for", b"1.2.3.4"),
                                           b),
    "content-type": lambda m, t, h, b: (m, t, _replace(h, b"content-type", b"text/html"), b),
    "token": lambda m, t, h, b: (m, t, _replace(h, b"x-amz-security-token", b"forged"), b),
}


@pytest.mark.parametrize("what", sorted(TAMPERINGS))
def test_changing_a_signed_part_breaks_the_signature(what: str) -> None:
    clock = _clock()
    case = CASES[3]
    headers = _send(case, clock)
    method, target, changed, body = TAMPERINGS[what](case.method, case.target, headers,
                                                     case.body)
    result = _verify(_verifier(clock), method, target, changed, body)
    assert isinstance(result, SigV4Failure)
    assert result.status == 403


def test_headers_outside_the_signed_set_may_be_added_by_hops() -> None:
    clock = _clock()
    case = CASES[3]
    headers = [*_send(case, clock), (b"via", b"1.1 lb"), (b"x-request-start", b"t=1")]
    assert isinstance(_verify(_verifier(clock), case.method, case.target, headers, case.body),
                      SigV4Success)


def test_injected_headers_can_be_signed() -> None:
    clock = _clock()
    case = Case("secret", "GET", "/prod/x", [(b"x-origin-verify", b"s3cret")])
    headers = _send(case, clock, signed=("host", "x-origin-verify"))
    auth = dict((n.lower(), v) for n, v in headers)[b"authorization"]
    assert b"SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token;" \
           b"x-origin-verify" in auth
    forged = _replace(headers, b"x-origin-verify", b"guess")
    assert isinstance(_verify(_verifier(clock), "GET", "/prod/x", forged, b""), SigV4Failure)


def test_unsigned_payload_is_accepted_only_where_allowed() -> None:
    clock = _clock()
    case = CASES[4]
    headers = _send(case, clock, unsigned_payload=True)
    assert (b"X-Amz-Content-Sha256", b"UNSIGNED-PAYLOAD") in headers
    allowing = _verifier(clock, allow_unsigned_payload=True)
    assert isinstance(_verify(allowing, case.method, case.target, headers, b"other"),
                      SigV4Success)
    refused = _verify(_verifier(clock), case.method, case.target, headers, case.body)
    assert isinstance(refused, SigV4Failure)


def test_a_signature_is_refused_after_the_skew_window() -> None:
    clock = _clock()
    case = CASES[0]
    headers = _send(case, clock)
    clock.advance(301)
    assert isinstance(_verify(_verifier(clock), case.method, case.target, headers, b""),
                      SigV4Failure)


def test_bad_inputs() -> None:
    creds = Credentials.of(AK, SK)
    with pytest.raises(ValueError, match="host"):
        sign_forwarded("GET", "/x", [], b"", creds, region="us-east-1", now=0.0)
    with pytest.raises(ValueError, match="origin-form"):
        sign_forwarded("GET", "http://h/x", [(b"host", b"h")], b"", creds, region="us-east-1",
                       now=0.0)
