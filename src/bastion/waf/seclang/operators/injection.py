"""@detectSQLi, @detectXSS: libinjection, as ModSecurity v2 calls it.

Description: the value's bytes go to ``libinjection_sqli``/``libinjection_xss``. With
``capture``, @detectSQLi puts the fingerprint in TX.0 (v2 ``set_match_to_tx``). The library
comes from the ``libmodsecurity`` wheel (see ``bastion.waf.seclang.libinjection``); when it
cannot be loaded the operator refuses to load, naming the package.
Example: ``@detectSQLi`` matches ``"1' OR '1'='1"`` with fingerprint ``s&sos``.
"""

from __future__ import annotations

from bastion.waf.seclang import libinjection
from bastion.waf.seclang.operators.base import OperatorError, OperatorOptions, OperatorTx
from bastion.waf.seclang.operators.registry import register

__all__ = ["DetectSqliOperator", "DetectXssOperator"]


def _require(name: str) -> None:
    try:
        libinjection.self_test()
    except libinjection.LibinjectionUnavailable as exc:
        raise OperatorError(f"@{name}: {exc}") from None


class DetectSqliOperator:
    """libinjection SQLi detection."""

    __slots__ = ()

    def evaluate(self, tx: OperatorTx, value: str) -> bool:
        """True on SQLi; with capture TX.0 is the fingerprint."""
        found, fingerprint = libinjection.is_sqli(value.encode("latin-1"))
        if found and tx.capture:
            tx.set_captures([fingerprint])
        return found


class DetectXssOperator:
    """libinjection XSS detection."""

    __slots__ = ()

    def evaluate(self, tx: OperatorTx, value: str) -> bool:
        """True on XSS."""
        return libinjection.is_xss(value.encode("latin-1"))


def detect_sqli(argument: str, options: OperatorOptions) -> DetectSqliOperator:
    """Factory of @detectSQLi."""
    _require("detectSQLi")
    return DetectSqliOperator()


def detect_xss(argument: str, options: OperatorOptions) -> DetectXssOperator:
    """Factory of @detectXSS."""
    _require("detectXSS")
    return DetectXssOperator()


register("detectSQLi", detect_sqli)
register("detectXSS", detect_xss)
