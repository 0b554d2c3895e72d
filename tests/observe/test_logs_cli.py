from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from bastion.clock import FrozenClock
from bastion.observe.logs_cli import add_parser, run
from bastion.observe.writer import LogWriter


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bastion")
    add_parser(parser.add_subparsers(dest="command"))
    return run(parser.parse_args(argv))


def test_compact_then_query(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with LogWriter(tmp_path, clock=FrozenClock(1_767_225_600.0), start=False) as w:
        for i in range(5):
            w.submit("access", {"requestId": f"r{i}", "status": "200"})
    assert _run(["logs", "compact", "--dir", str(tmp_path), "--min-age", "0"]) == 0
    assert "compacted 5 records" in capsys.readouterr().out
    assert _run(["logs", "query", "--dir", str(tmp_path), "--format", "json",
                 "SELECT count(*) AS n FROM access_logs"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out) == {"n": 5} and out.err == ""
    assert _run(["logs", "query", "--dir", str(tmp_path), "DROP VIEW waf_logs"]) == 1
    assert "single SELECT" in capsys.readouterr().err
