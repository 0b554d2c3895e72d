"""libinjection through ctypes, and the @detectSQLi/@detectXSS operators on top of it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from bastion.waf.seclang import libinjection, operators
from bastion.waf.seclang.operators import OperatorOptions
from tests.waf.seclang.stub_tx import StubTx

OPTS = OperatorOptions(base_dir=Path("."))

SQLI = [
    (b"1' OR '1'='1", "s&sos"),
    (b"ascii(substring(version() from 1 for 1))", "f(f(f"),
    (b"1 UNION SELECT password FROM users--", "1UEnk"),
    (b"1;DROP TABLE users", "1;Tnn"),
    (b"admin'--", "sc"),
]
XSS = [b"<script>alert(1)</script>", b'<img src=x onerror="alert(1)">',
       b'<a href="javascript:alert(1)">)']
BENIGN = [b"", b"hello world", b"O'Reilly books", b"price: 10 - 5", b"<b>bold</b>",
          b"john.doe@example.com"]


def test_self_test_passes() -> None:
    libinjection.self_test()
    assert libinjection.available()


@pytest.mark.parametrize(("payload", "fingerprint"), SQLI)
def test_sqli_payloads(payload: bytes, fingerprint: str) -> None:
    assert libinjection.is_sqli(payload) == (True, fingerprint)


@pytest.mark.parametrize("payload", XSS)
def test_xss_payloads(payload: bytes) -> None:
    assert libinjection.is_xss(payload)


@pytest.mark.parametrize("payload", BENIGN)
def test_benign(payload: bytes) -> None:
    assert libinjection.is_sqli(payload) == (False, "")
    assert not libinjection.is_xss(payload)


def test_detect_sqli_sets_fingerprint_capture() -> None:
    op = operators.get("detectSQLi")("", OPTS)
    tx = StubTx(capture=True)
    assert op.evaluate(tx, "1' OR '1'='1")
    assert tx.captures == [["s&sos"]]
    assert not op.evaluate(tx, "hello")
    assert operators.get("detectXSS")("", OPTS).evaluate(StubTx(), "<script>alert(1)</script>")


def test_values_are_bytes_not_utf8() -> None:
    # "\xbf'" as bytes: the operator must pass the raw byte, not its UTF-8 encoding.
    op = operators.get("detectSQLi")("", OPTS)
    expected, _ = libinjection.is_sqli(b"\xbf' OR 1=1--")
    assert op.evaluate(StubTx(), "\xbf' OR 1=1--") is expected


def test_missing_package_error_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BASTION_LIBINJECTION_LIBRARY", raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(libinjection.LibinjectionUnavailable, match="libmodsecurity"):
        libinjection.library_path()
