"""`bastion waf import`: exit 0 for an enforceable export, 1 with paths for anything else."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from bastion.waf.webacl.cli import add_parser

DATA = Path(__file__).with_name("data")
DEMO = Path(__file__).parents[3] / "src" / "bastion" / "demo" / "webacl.json"


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="bastion")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["waf", "import", *argv])
    return int(args.handler(args))


def test_enforceable_export(capsys: pytest.CaptureFixture[str]) -> None:
    rc = run(str(DATA / "petstore-prod.webacl.json"),
             "--ip-set", str(DATA / "office-allow.ipset.json"),
             "--ip-set", str(DATA / "blocked-clients.ipset.json"),
             "--regex-set", str(DATA / "scanner-paths.regexpatternset.json"))
    out = capsys.readouterr().out
    assert rc == 0
    assert "Web ACL petstore-prod: 12 rules" in out
    assert "rate-based 100/120s by CUSTOM_KEYS" in out
    assert "OK (0 errors, 0 unsupported, 3 warnings)" in out


def test_demo_web_acl_imports(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(str(DEMO), "--ip-list",
               f"AWSManagedIPReputationList={DEMO.with_name('ip-reputation.netset')}") == 0
    out = capsys.readouterr().out
    assert "OK (0 errors, 0 unsupported, 2 warnings)" in out  # two lists left unconfigured
    assert run(str(DEMO), "--ip-list", "Nope=x") == 1


def test_unsupported_fields_exit_1_with_paths(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    doc = json.loads(DEMO.read_text())
    doc["WebACL"]["DataProtectionConfig"] = {"DataProtections": []}
    doc["WebACL"]["Rules"][1]["Statement"]["RateBasedStatement"]["CustomKeys"] = [
        {"JA4Fingerprint": {"FallbackBehavior": "MATCH"}}]
    doc["WebACL"]["Rules"][1]["Statement"]["RateBasedStatement"]["AggregateKeyType"] = \
        "CUSTOM_KEYS"
    f = tmp_path / "acl.json"
    f.write_text(json.dumps(doc))
    assert run(str(f), "--json") == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    got = {(x["severity"], x["path"]) for x in report["findings"] if x["severity"] != "warning"}
    assert got == {
        ("unsupported", "WebACL.DataProtectionConfig"),
        ("unsupported", "WebACL.Rules[1].Statement.RateBasedStatement.CustomKeys[0]"
                        ".JA4Fingerprint"),
    }


def test_unreadable_and_invalid_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(str(tmp_path / "missing.json")) == 1
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    assert run(str(bad)) == 1
    err = capsys.readouterr().err
    assert "cannot read" in err and "not JSON" in err
