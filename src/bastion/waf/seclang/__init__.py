"""A ModSecurity-v2-compatible SecLang engine that runs the OWASP Core Rule Set.

Public API::

    waf = WAF.build([Snippet("SecRuleEngine On"), Path("rules.conf")], hyperscan=True)
    tx = waf.new_transaction()
    tx.process_connection("203.0.113.7", 51234)
    tx.process_uri("GET", "/a?b=c", "HTTP/1.1")
    tx.add_request_header("Host", "example.com")
    if (it := tx.process_request_headers()) is not None: ...   # Interruption
    it = tx.process_request_body(body_bytes)
    it = tx.process_response_headers(200, headers); it = tx.process_response_body(data)
    tx.process_logging()
    tx.matched          # [MatchedRule(id, msg, logdata, matched var/value, severity, tags...)]
    tx.anomaly_scores() # CRS scores

Values are ``str`` whose every character is one byte (U+0000-U+00FF, bytes decoded as latin-1),
so the engine keeps ModSecurity's byte semantics while using Python's fast ``str`` methods.
Operators live in ``.operators``, transformations in ``.transformations``.
"""

from __future__ import annotations

from bastion.waf.seclang.collections import CollectionStore, MemoryStore, Record
from bastion.waf.seclang.crs import (
    CrsLayout,
    crs_sources,
    crs_test_environment,
    find_crs,
    load_crs,
)
from bastion.waf.seclang.directives import Settings
from bastion.waf.seclang.inspect import CrsEngine, CrsResult
from bastion.waf.seclang.registry import Primitives, default_primitives
from bastion.waf.seclang.results import Interruption, MatchedRule
from bastion.waf.seclang.transaction import Transaction
from bastion.waf.seclang.waf import WAF, Snippet

__all__ = [
    "WAF",
    "CollectionStore",
    "CrsEngine",
    "CrsLayout",
    "CrsResult",
    "Interruption",
    "MatchedRule",
    "MemoryStore",
    "Primitives",
    "Record",
    "Settings",
    "Snippet",
    "Transaction",
    "crs_sources",
    "crs_test_environment",
    "default_primitives",
    "find_crs",
    "load_crs",
]
