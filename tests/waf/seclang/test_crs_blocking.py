"""The CRS as a product uses it: anomaly scoring in blocking mode at paranoia 1."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bastion.waf.seclang.crs import CrsLayout, load_crs
from bastion.waf.seclang.registry import Primitives
from bastion.waf.seclang.waf import WAF

from .test_engine import run


@pytest.fixture(scope="module")
def blocking(crs_layout: CrsLayout, prims: Primitives,
             tmp_path_factory: pytest.TempPathFactory) -> WAF:
    return load_crs(os.environ.get("BASTION_CRS_PATH") or None, paranoia=1, primitives=prims,
                    cache_dir=tmp_path_factory.mktemp("hs"),
                    exclusions="SecRuleUpdateTargetById 942100 \"!ARGS:sql_ok\"\n")


HEADERS = [("Host", "example.com"), ("User-Agent", "Mozilla/5.0"), ("Accept", "*/*")]


def test_benign_request_passes_with_zero_score(blocking: WAF) -> None:
    tx, it = run(blocking, "/search?q=hello+world&page=2", headers=HEADERS)
    assert it is None and tx.matched == []
    assert tx.anomaly_scores()["anomaly_score"] == 0


def test_sqli_is_blocked_by_the_inbound_score(blocking: WAF) -> None:
    tx, it = run(blocking, "/search?q=1%27%20or%20%271%27=%271", headers=HEADERS)
    assert it is not None and it.rule_id == 949110 and it.status == 403
    fired = {m.id for m in tx.matched}
    assert 942100 in fired and 949110 in fired
    assert tx.anomaly_scores()["inbound_anomaly_score"] >= 5
    sqli = next(m for m in tx.matched if m.id == 942100)
    assert sqli.matched_var_name == "ARGS:q" and "SQL Injection" in sqli.msg


def test_configured_exclusion_applies(blocking: WAF) -> None:
    tx, _ = run(blocking, "/x?sql_ok=1%27%20or%20%271%27=%271", headers=HEADERS)
    assert 942100 not in {m.id for m in tx.matched}


def test_debian_layout_is_found(crs_layout: CrsLayout) -> None:
    files = crs_layout.files()
    assert files[0].name == "crs-setup.conf"
    assert files[-1].name.startswith("RESPONSE-9") and Path(files[1]).suffix == ".conf"


def test_crs_engine_inspect(prims: Primitives, tmp_path: Path) -> None:
    from bastion.waf.seclang.inspect import CrsEngine

    eng = CrsEngine(os.environ.get("BASTION_CRS_PATH") or None, primitives=prims,
                    cache_dir=tmp_path)
    attack = dict(method="GET", uri="/?q=1%27%20or%20%271%27=%271", headers=HEADERS,
                  client_ip="203.0.113.9")
    r = eng.inspect(**attack)  # type: ignore[arg-type]
    assert r.blocked and r.terminating == 949110 and r.status == 403
    assert 942100 in r.matched and r.scores["inbound_anomaly_score"] >= 5
    r = eng.inspect(**attack, excluded_ids=[949110])  # type: ignore[arg-type]
    assert not r.blocked and 942100 in r.matched
    r = eng.inspect(method="GET", uri="/ok?x=1", headers=HEADERS, paranoia=2)
    assert not r.blocked and r.matched == ()
    assert eng.waf(2) is eng.waf(2) and eng.waf(1) is not eng.waf(2)


def test_anomaly_scores_are_scores_only_and_their_name_memory_is_bounded(
        blocking: WAF, monkeypatch: pytest.MonkeyPatch) -> None:
    """Scores, not the severity weights or thresholds beside them; the kinds of TX key names
    are remembered, and names come from requests too (``tx.header_name_<name>``): bounded."""
    from bastion.waf.seclang import transaction

    headers = HEADERS + [(f"X-Odd-{i}", "1") for i in range(8)]
    tx, _ = run(blocking, "/search?q=1%27%20or%20%271%27=%271", headers=headers)
    assert any(k.startswith("header_name_x-odd-") for k, _ in tx.tx.lowered_items())
    monkeypatch.setattr(transaction, "_SCORE_KEYS", {})
    cold = tx.anomaly_scores()
    warm = tx.anomaly_scores()
    monkeypatch.setattr(transaction, "_SCORE_KEYS", {})
    monkeypatch.setattr(transaction, "_MAX_SCORE_KEYS", 5)
    bounded = tx.anomaly_scores()
    assert cold == warm == bounded and len(transaction._SCORE_KEYS) == 5
    assert {"anomaly_score", "inbound_anomaly_score", "sql_injection_score"} <= set(cold)
    assert cold["inbound_anomaly_score"] >= 5 and cold["sql_injection_score"] >= 5
    beside = {"critical_anomaly_score", "inbound_anomaly_score_threshold"}
    assert beside <= {k for k, _ in tx.tx.lowered_items()} and not beside & set(cold)
    assert not any(k.startswith("header_name_") for k in cold)
