"""Hyperscan must agree with PCRE2 on every @rx of the CRS over the regression payloads.

The Vectorscan builds in hyperscan 0.8.0-0.9.1 miss real matches (crs-engine §5); this test
catches that class of bug: the whole CRS regression corpus runs in self-check mode, where
every accelerated decision is also made by PCRE2 (exact patterns must agree both ways,
prefilter patterns must never miss a PCRE2 match).
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from bastion.waf.seclang import ftw
from bastion.waf.seclang.accel import PINNED_VERSION, HyperscanAccelerator
from bastion.waf.seclang.crs import CrsLayout, crs_sources
from bastion.waf.seclang.registry import Primitives
from bastion.waf.seclang.waf import WAF

from .conftest import VECTORS


def test_pinned_hyperscan_build() -> None:
    assert importlib.metadata.version("hyperscan") == PINNED_VERSION


def test_hyperscan_agrees_with_pcre2_on_the_crs(crs_layout: CrsLayout, prims: Primitives,
                                                tmp_path: Path) -> None:
    waf = WAF.build(crs_sources(crs_layout, paranoia=4, test_env=True), primitives=prims,
                    hyperscan=True, cache_dir=tmp_path)
    assert isinstance(waf.accel, HyperscanAccelerator)
    assert waf.accel.stats["patterns"] >= 250
    waf.verify_accel = True
    cases = ftw.load_tests([VECTORS / "regression-tests" / "v3.3.4",
                            VECTORS / "regression-tests" / "backports-v3.3.9"])
    ftw.run_tests(waf.new_transaction, cases, strict_http=False)
    print(f"{waf.accel_checks} accelerated regex decisions checked against PCRE2")
    assert waf.accel_checks > 100_000
    assert waf.accel_mismatches == []


def test_database_cache_makes_startup_fast(crs_layout: CrsLayout, prims: Primitives,
                                           tmp_path: Path) -> None:
    import time

    sources = crs_sources(crs_layout, paranoia=1)
    WAF.build(sources, primitives=prims, hyperscan=True, cache_dir=tmp_path)
    assert any(tmp_path.glob("db-*.hsdb"))
    t0 = time.perf_counter()
    WAF.build(sources, primitives=prims, hyperscan=True, cache_dir=tmp_path)
    assert time.perf_counter() - t0 < 2.0
