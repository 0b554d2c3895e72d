"""One call to run a request through the CRS: the hook the Web ACL's managed group uses.

``CrsEngine`` keeps one loaded WAF per paranoia level (built on first use, sharing the
Hyperscan cache) and ``inspect`` runs the request phases (1 and 2) of a fresh transaction,
with rule ids excluded per call (the Web ACL's ``ExcludedRules``), returning plain data.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bastion.waf.seclang.crs import load_crs
from bastion.waf.seclang.results import MatchedRule
from bastion.waf.seclang.waf import WAF

__all__ = ["CrsEngine", "CrsResult"]


@dataclass(frozen=True, slots=True)
class CrsResult:
    """What the CRS decided about one request."""

    matched: tuple[int, ...]  # every logged rule id, in match order, without repeats
    blocked: bool  # an anomaly threshold (or a deny rule) stopped the request
    terminating: int | None  # the rule that decided (949110 for the inbound score)
    status: int | None
    #: CRS's scores when a rule matched or the request was stopped (else empty: all zero)
    scores: dict[str, int] = field(default_factory=dict)
    records: tuple[MatchedRule, ...] = ()


class CrsEngine:
    """The OWASP CRS at any paranoia level, blocking (``On``) or ``DetectionOnly``."""

    def __init__(self, path: str | Path | None = None, *, mode: str = "On",
                 inbound_threshold: int | None = None, outbound_threshold: int | None = None,
                 exclusions: str = "", hyperscan: bool = True, cache_dir: Path | None = None,
                 **kw: Any) -> None:
        self._args: dict[str, Any] = dict(
            mode=mode, inbound_threshold=inbound_threshold,
            outbound_threshold=outbound_threshold, exclusions=exclusions,
            hyperscan=hyperscan, cache_dir=cache_dir, **kw)
        self._path = path
        self._wafs: dict[int, WAF] = {}
        self._lock = threading.Lock()

    def waf(self, paranoia: int = 1) -> WAF:
        """The loaded WAF for ``paranoia`` (1-4), built once."""
        w = self._wafs.get(paranoia)
        if w is None:
            with self._lock:
                w = self._wafs.get(paranoia)
                if w is None:
                    w = load_crs(self._path, paranoia=paranoia, **self._args)
                    self._wafs[paranoia] = w
                    # The loaded ruleset is hundreds of thousands of long-lived objects
                    # (rules, phrase tries...): without this every full collection walks them
                    # again, ~15% of a request's CPU. Frozen objects are still freed by
                    # reference counting; only cycles among them would outlive their use.
                    gc.collect()
                    gc.freeze()
        return w

    def inspect(
        self, *, method: str, uri: str, headers: Sequence[tuple[str, str]], body: bytes = b"",
        client_ip: str = "", client_port: int = 0, http_version: str = "HTTP/1.1",
        paranoia: int = 1, excluded_ids: Iterable[int | str] = (),
    ) -> CrsResult:
        """Run phases 1-2. ``uri`` is the raw request target; header values latin-1 text."""
        tx = self.waf(paranoia).new_transaction()
        for rid in excluded_ids:
            tx.remove_ids(str(rid))
        tx.process_connection(client_ip, client_port)
        version = http_version if http_version.startswith("HTTP/") else f"HTTP/{http_version}"
        tx.process_uri(method, uri, version)
        for k, v in headers:
            tx.add_request_header(k, v)
        it = tx.process_request_headers()
        if it is None:
            it = tx.process_request_body(body)
        tx.process_logging()
        seen: dict[int, None] = {}
        for m in tx.matched:
            seen.setdefault(m.id, None)
        return CrsResult(
            matched=tuple(seen), blocked=it is not None,
            terminating=it.rule_id if it is not None else None,
            status=it.status if it is not None else None,
            scores=tx.anomaly_scores() if seen or it is not None else {},
            records=tuple(tx.matched))
