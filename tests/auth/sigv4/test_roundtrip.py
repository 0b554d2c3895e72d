"""Property: whatever our signer signs, our verifier accepts; any change to the signed parts
is rejected. And botocore agrees with our signer's signature byte for byte."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.auth.secret import Secret
from bastion.auth.sigv4 import (
    Credentials,
    ResolvedKey,
    SigV4Verifier,
    StaticKeys,
    presign_url,
    sign_headers,
)
from bastion.auth.sigv4._dates import format_amz_date
from bastion.clock import FrozenClock

NOW = 1_700_000_000.0
CREDS = Credentials.of("AKIAROUNDTRIP0000001", "secret-key-for-roundtrip")
KEYS = StaticKeys([ResolvedKey(CREDS.access_key, Secret("secret-key-for-roundtrip"))])
SEGMENT = st.text(alphabet="abcXYZ019-._~ %@=+!$&'()*,;:é", min_size=0, max_size=8)
PATHS = st.lists(SEGMENT, min_size=1, max_size=4).map(
    lambda segs: "/" + "/".join(quote(s, safe="") for s in segs))
QUERY = st.lists(st.tuples(st.text("abc_-", min_size=1, max_size=5), SEGMENT), max_size=4).map(
    lambda kv: "&".join(f"{k}={quote(v, safe='')}" for k, v in kv))
METHODS = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"])
BODIES = st.binary(max_size=64)


def _verify(method: str, path: str, query: str, headers: list[tuple[str, str]],
            body: bytes) -> bool:
    return SigV4Verifier(KEYS, FrozenClock(NOW)).verify(method, path, query, headers, body).ok


@settings(max_examples=150, deadline=None)
@given(method=METHODS, path=PATHS, query=QUERY, body=BODIES)
def test_header_form_roundtrip(method: str, path: str, query: str, body: bytes) -> None:
    url = f"https://api.example.com{path}" + (f"?{query}" if query else "")
    headers = sign_headers(method, url, [("Content-Type", "application/json")], body, CREDS,
                           "us-east-1", "execute-api", NOW)
    assert _verify(method, path, query, headers, body)
    assert not _verify(method, path, query, headers, body + b"x")
    assert not _verify(method, path + "x", query, headers, body)
    assert not _verify(method, path, query + "&z=1", headers, body)


@settings(max_examples=100, deadline=None)
@given(method=METHODS, path=PATHS, query=QUERY)
def test_query_form_roundtrip(method: str, path: str, query: str) -> None:
    url = f"https://api.example.com{path}" + (f"?{query}" if query else "")
    signed = presign_url(method, url, [], b"", CREDS, "us-east-1", "execute-api", NOW)
    parts = urlsplit(signed.url)
    assert _verify(method, parts.path, parts.query, signed.headers, b"")
    assert not _verify(method, parts.path, parts.query + "&z=1", signed.headers, b"")


@settings(max_examples=100, deadline=None)
@given(method=METHODS, path=PATHS, query=QUERY, body=BODIES)
def test_botocore_agrees_with_our_signer(method: str, path: str, query: str,
                                         body: bytes) -> None:
    url = f"https://api.example.com{path}" + (f"?{query}" if query else "")
    ours = dict(sign_headers(method, url, [], body, CREDS, "us-east-1", "execute-api", NOW))
    req = AWSRequest(method=method, url=url, data=body,
                     headers={"X-Amz-Date": format_amz_date(NOW)})
    auth = SigV4Auth(BotoCredentials(CREDS.access_key, "secret-key-for-roundtrip"),
                     "execute-api", "us-east-1")
    req.context["timestamp"] = format_amz_date(NOW)
    creq = auth.canonical_request(req)
    sig = auth.signature(auth.string_to_sign(req, creq), req)
    assert ours["Authorization"].endswith(f"Signature={sig}")


def test_the_signing_key_memory_is_bounded_and_keyed_by_the_secret() -> None:
    from bastion.auth.sigv4._canonical import derive_signing_key

    raw = derive_signing_key.__wrapped__
    keys = {derive_signing_key(f"secret-{i}", "20260101", "us-east-1", "execute-api")
            for i in range(1000)}
    assert len(keys) == 1000   # a rotated secret never signs with the old one's key
    assert derive_signing_key.cache_info().currsize <= 256
    assert derive_signing_key("secret-7", "20260101", "us-east-1", "execute-api") == raw(
        "secret-7", "20260101", "us-east-1", "execute-api")
