from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bastion.observe.audit import generate_signing_key
from bastion.observe.audit.cli import add_parser, run
from bastion.observe.audit.layout import iso

from .conftest import HOUR, T0, build_chain


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bastion")
    add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_verify_cli_clean_and_tampered(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bastion.observe.audit import Signer
    priv, pub = generate_signing_key(tmp_path / "keys", "SHA256withRSA")
    assert priv.stat().st_mode & 0o777 == 0o600
    chain = build_chain(tmp_path / "logs", Signer.from_file(priv), hours=3)
    chain.trail.close()
    args = _parse(["audit", "verify", "--start", iso(T0 - HOUR), "--end",
                   iso(chain.clock.time()), "--dir", str(tmp_path / "logs"),
                   "--public-key", str(pub)])
    assert run(args) == 0
    out = capsys.readouterr()
    assert "Results requested for" in out.out and "digest files valid" in out.out
    assert out.err == ""  # not a terminal: no progress
    next((tmp_path / "logs").rglob("*CloudTrail_local_*.json.gz")).unlink()
    assert run(args) == 1
    assert "INVALID: not found" in capsys.readouterr().out


def test_verify_cli_bad_date(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse(["audit", "verify", "--start", "yesterday", "--dir", str(tmp_path)])
    assert run(args) == 2
    assert "invalid date" in capsys.readouterr().err
