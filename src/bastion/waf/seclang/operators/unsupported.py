"""Operators we deliberately do not run: each refuses to load with a clear reason.

They need the network (rbl, gsbLookup), external databases (geoLookup), external programs
(inspectFile) or XML schema files (validateDTD, validateSchema). CRS 3.3.4 only uses
``@rbl``/``@geoLookup`` in 910, which is off by default: the engine can catch
``UnsupportedOperatorError`` and compile those rules as never matching.
"""

from __future__ import annotations

from bastion.waf.seclang.operators.base import Operator, OperatorOptions, UnsupportedOperatorError
from bastion.waf.seclang.operators.registry import register

__all__ = ["UNSUPPORTED"]

UNSUPPORTED = {
    "rbl": "it needs DNS lookups to a real-time block list",
    "geoLookup": "it needs a GeoIP database (SecGeoLookupDb)",
    "gsbLookup": "it needs a Google Safe Browsing database",
    "inspectFile": "it runs an external program on uploaded files",
    "validateDTD": "XML DTD validation is not supported",
    "validateSchema": "XML schema validation is not supported",
}


def _refuse(name: str, reason: str) -> None:
    def factory(argument: str, options: OperatorOptions) -> Operator:
        raise UnsupportedOperatorError(f"operator @{name} is not supported: {reason}")

    register(name, factory)


for _name, _reason in UNSUPPORTED.items():
    _refuse(_name, _reason)
