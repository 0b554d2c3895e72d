"""Every ModSecurity v2 unit vector (and Coraza's cmdLine vectors) against our implementation.

Strings in the vectors are byte strings (one char per byte), which is exactly our value type.
Known, reasoned differences live in ``tests/vectors/seclang/exceptions.yaml``; an unlisted
difference fails, and so does a listed vector that starts passing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from bastion.waf.seclang import operators, transformations
from bastion.waf.seclang.operators import Operator, OperatorOptions
from bastion.waf.seclang.transformations.url import make_url_decode_uni
from tests.waf.seclang.stub_tx import StubTx

ROOT = Path(__file__).resolve().parents[2] / "vectors" / "seclang"
V2 = ROOT / "modsecurity-v2-unit-vectors"
EXCEPTIONS: dict[str, str] = yaml.safe_load((ROOT / "exceptions.yaml").read_text()) or {}


def _load() -> list[tuple[str, dict[str, Any]]]:
    files = sorted(V2.glob("tfn/*.json")) + sorted(V2.glob("op/*.json"))
    files.append(ROOT / "coraza-vectors" / "cmdLine.json")
    cases = []
    for path in files:
        for index, vector in enumerate(json.loads(path.read_text(encoding="utf-8"))):
            cases.append((f"{path.stem}#{index}", vector))
    return cases


CASES = _load()
_OPERATOR_CACHE: dict[tuple[str, str], Operator] = {}
# ModSecurity's unit tests run without SecUnicodeMapFile; our registered urlDecodeUni uses
# Debian's recommended code page 20127 map, so the vectors get the map-less variant.
_VECTOR_TRANSFORMATIONS = {"urldecodeuni": make_url_decode_uni(None)}


def _run(vector: dict[str, Any]) -> object:
    if vector["type"] == "tfn":
        name = vector["name"]
        fn = _VECTOR_TRANSFORMATIONS.get(name.lower()) or transformations.get(name)
        return fn(vector["input"])
    key = (vector["name"], vector.get("param", ""))
    op = _OPERATOR_CACHE.get(key)
    if op is None:
        op = operators.get(key[0])(key[1], OperatorOptions(base_dir=V2))
        _OPERATOR_CACHE[key] = op
    return op.evaluate(StubTx(), vector["input"])


def _expected(vector: dict[str, Any]) -> object:
    return vector["output"] if vector["type"] == "tfn" else bool(vector["ret"])


def test_vector_count() -> None:
    assert len(CASES) == 4210 + 6


def test_exceptions_name_real_vectors() -> None:
    ids = {case_id for case_id, _ in CASES}
    assert set(EXCEPTIONS) <= ids
    assert all(isinstance(reason, str) and reason for reason in EXCEPTIONS.values())


@pytest.mark.parametrize(("case_id", "vector"), CASES, ids=[c for c, _ in CASES])
def test_vector(case_id: str, vector: dict[str, Any]) -> None:
    try:
        got: object = _run(vector)
    except Exception as exc:  # an exception is a difference like any other
        got = exc
    expected = _expected(vector)
    if case_id in EXCEPTIONS:
        assert got != expected, f"{case_id} now passes: remove it from exceptions.yaml"
        return
    assert got == expected, f"{vector['name']} {vector.get('param', '')!r} {vector['input']!r}"
    if isinstance(got, str):
        assert all(ord(c) <= 0xFF for c in got)
