from __future__ import annotations

import os
from pathlib import Path

import pytest

from bastion.errors import ConfigError
from bastion.waf.seclang.crs import CrsLayout, crs_sources, find_crs
from bastion.waf.seclang.registry import Primitives, default_primitives
from bastion.waf.seclang.waf import WAF, Snippet

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "crs"


@pytest.fixture(scope="session")
def prims() -> Primitives:
    return default_primitives()


@pytest.fixture(scope="session")
def crs_layout() -> CrsLayout:
    try:
        return find_crs(os.environ.get("BASTION_CRS_PATH") or None)
    except ConfigError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CRS is required in CI: {exc}")
        pytest.skip(f"CRS not installed (apt-get install modsecurity-crs): {exc}")


@pytest.fixture(scope="session")
def crs_test_waf(crs_layout: CrsLayout, prims: Primitives, tmp_path_factory: pytest.TempPathFactory
                 ) -> WAF:
    return WAF.build(crs_sources(crs_layout, paranoia=4, test_env=True), primitives=prims,
                     hyperscan=True, cache_dir=tmp_path_factory.mktemp("hs"))


def make_waf(prims: Primitives, text: str, **kw: object) -> WAF:
    """A WAF from inline rules (engine On unless the text says otherwise)."""
    return WAF.build([Snippet("SecRuleEngine On\n" + text, "<test>")], primitives=prims,
                     **kw)  # type: ignore[arg-type]
