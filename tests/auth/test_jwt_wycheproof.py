"""Every Wycheproof JWS vector through ``verify_jws``: invalid rejected, valid accepted, except the
differences listed (with reasons) in tests/vectors/jose-wycheproof/bastion-differences.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bastion.auth.jwks import JwksCache
from bastion.auth.jwt import KNOWN_ALGORITHMS, verify_jws

VEC = Path(__file__).parent.parent / "vectors" / "jose-wycheproof"
_HMAC = sorted(a for a in KNOWN_ALGORITHMS if a.startswith("HS"))
_PUBLIC = sorted(a for a in KNOWN_ALGORITHMS if not a.startswith("HS"))


def _cases() -> list[Any]:
    doc = json.loads((VEC / "json_web_signature_test.json").read_text())
    out = []
    for g in doc["testGroups"]:
        key = g.get("public") or g["private"]
        for t in g["tests"]:
            out.append(pytest.param(key, t, id=f"tc{t['tcId']}-{t['comment']}"))
    return out


DIFFS = {
    d["tcId"]: d
    for d in json.loads((VEC / "bastion-differences.json").read_text())["differences"]
}


@pytest.mark.parametrize(("key", "case"), _cases())
def test_wycheproof_jws(key: dict[str, Any], case: dict[str, Any]) -> None:
    algorithms = _HMAC if key["kty"] == "oct" else _PUBLIC
    jwks = JwksCache(keys={"keys": [key]})
    jws = case["jws"]
    if not isinstance(jws, str):  # JSON serialization: compact only
        assert case["result"] == "invalid"
        return
    res = verify_jws(jws, algorithms, jwks)
    diff = DIFFS.get(case["tcId"])
    if diff is not None:
        assert res.code == diff["bastion"], "stale entry in bastion-differences.json"
        assert (case["result"] == "valid") != res.ok
        return
    assert res.ok is (case["result"] == "valid"), (res.code, res.reason)


def test_difference_list_is_small_and_reasoned() -> None:
    assert len(DIFFS) <= 8
    assert all(d["reason"] for d in DIFFS.values())


def _jwk_cases() -> list[Any]:
    doc = json.loads((VEC / "json_web_key_test.json").read_text())
    out = []
    for g in doc["testGroups"]:
        key = g.get("public") or g["private"]
        jwks = key if "keys" in key else {"keys": [key]}
        for t in g["tests"]:
            out.append(pytest.param(jwks, t, id=f"jwk-tc{t['tcId']}-{t['comment']}"))
    return out


@pytest.mark.parametrize(("jwks", "case"), _jwk_cases())
def test_wycheproof_jwk_keysets(jwks: dict[str, Any], case: dict[str, Any]) -> None:
    """Key-set hygiene: mixed symmetric/public sets, duplicate kids, RSA < 2048 bits, exponent 1,
    ROCA moduli, short or empty HMAC keys, wrong use, alg/curve mismatch, AES keys: all refused."""
    verdicts = [verify_jws(case["jws"], algs, JwksCache(keys=jwks)) for algs in (_HMAC, _PUBLIC)]
    assert any(v.ok for v in verdicts) is (case["result"] == "valid"), [v.code for v in verdicts]
