"""Per-request evaluation state and the pluggable detectors a Web ACL consults.

One ``EvalContext`` lives for one request: the labels added so far (rules read earlier rules'
labels), a cache of transformed field values (managed groups inspect the same field with the
same transformations many times), and what the log record needs (match details, oversize).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bastion.waf.webacl.fields import Extracted, Field
from bastion.waf.webacl.ipranges import ip_key
from bastion.waf.webacl.request import WafRequest
from bastion.waf.webacl.transforms import apply_chain

__all__ = [
    "CountryLookup",
    "Detectors",
    "EvalContext",
    "LibinjectionDetectors",
    "MaxMindCountryLookup",
]


class Detectors(Protocol):
    """SQL injection and XSS detection, as libinjection answers it."""

    def is_sqli(self, data: bytes) -> tuple[bool, str]: ...

    def is_xss(self, data: bytes) -> bool: ...


class LibinjectionDetectors:
    """Bastion's libinjection port (``bastion.waf.seclang.libinjection``), imported on first use
    so a Web ACL without SQLi/XSS statements loads even where that module is absent."""

    __slots__ = ("_mod",)

    def __init__(self) -> None:
        self._mod: Any = None

    def _m(self) -> Any:
        if self._mod is None:
            self._mod = importlib.import_module("bastion.waf.seclang.libinjection")
        return self._mod

    def is_sqli(self, data: bytes) -> tuple[bool, str]:
        ok, fp = self._m().is_sqli(data)
        return bool(ok), str(fp)

    def is_xss(self, data: bytes) -> bool:
        return bool(self._m().is_xss(data))


class CountryLookup(Protocol):
    """ISO 3166 alpha-2 country of an address, or None when unknown."""

    def country(self, ip: str) -> str | None: ...


class MaxMindCountryLookup:
    """A MaxMind-format (``.mmdb``) database the operator supplies, read with ``maxminddb``."""

    __slots__ = ("_reader",)

    def __init__(self, path: str) -> None:
        import maxminddb  # optional dependency: only needed when a database is configured

        self._reader = maxminddb.open_database(path)

    def country(self, ip: str) -> str | None:
        try:
            rec = self._reader.get(ip)
        except ValueError:
            return None
        if not isinstance(rec, dict):
            return None
        for key in ("country", "registered_country"):
            c = rec.get(key)
            if isinstance(c, dict) and isinstance(c.get("iso_code"), str):
                return str(c["iso_code"])
        return None



@dataclass(slots=True)
class EvalContext:
    """The state of evaluating one request against one Web ACL."""

    request: WafRequest
    body_limit: int = 8192
    detectors: Detectors | None = None
    geo: CountryLookup | None = None
    geo_header: str | None = None
    now: float = 0.0
    labels: list[str] = field(default_factory=list)
    label_set: set[str] = field(default_factory=set)
    oversize_fields: set[str] = field(default_factory=set)
    details: list[dict[str, Any]] = field(default_factory=list)
    crs_records: list[Any] = field(default_factory=list)   # CrsVerdict.records, as matched
    _cache: dict[tuple[Any, ...], Extracted] = field(default_factory=dict)
    _client: tuple[tuple[int, int] | None] | None = None

    def client_key(self) -> tuple[int, int] | None:
        """The client address as ``ip_key`` gives it, parsed once per request."""
        if self._client is None:
            self._client = (ip_key(self.request.client_ip),)
        return self._client[0]

    def add_label(self, name: str) -> None:
        if name not in self.label_set:
            self.label_set.add(name)
            self.labels.append(name)

    def values(self, fld: Field, chain: tuple[str, ...]) -> Extracted:
        """The field's values after ``chain``, computed once per request and (field, chain)."""
        key = (fld.cache_key, chain)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        raw = fld.extract(self)
        out: Extracted = raw if isinstance(raw, bool) else [apply_chain(chain, v) for v in raw]
        self._cache[key] = out
        return out

    def detect(self) -> Detectors:
        if self.detectors is None:
            self.detectors = LibinjectionDetectors()
        return self.detectors

    def country_of(self, ip: str, *, client: bool) -> str | None:
        if client and self.geo_header:
            v = self.request.header(self.geo_header)
            if v:
                return v.strip().upper()[:2]
        return self.geo.country(ip) if self.geo is not None else None


# A few SQL shapes libinjection deliberately leaves alone but AWS's HIGH sensitivity flags.
SQLI_HIGH_EXTRA: Callable[[bytes], re.Match[bytes] | None] = re.compile(
    rb"(?i)(?:\bunion\b[\s\S]{0,40}\bselect\b|\bselect\b[\s\S]{0,80}\bfrom\b|"
    rb"\b(?:sleep|benchmark|pg_sleep|waitfor\s+delay)\s*\(|'\s*(?:or|and)\s+['\d]|"
    rb"\b(?:drop|truncate|alter)\s+table\b|;\s*(?:shutdown|exec)\b|/\*!?\d*|--\s*$)"
).search
