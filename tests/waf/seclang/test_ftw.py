from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from bastion.errors import ConfigError
from bastion.waf.seclang import cli, ftw
from bastion.waf.seclang.registry import Primitives

from .conftest import make_waf


def test_ftw_input_magic() -> None:
    r = ftw.build_request({"method": "POST", "data": "a=b c&d='x'",
                           "headers": {"Host": "h"}})
    assert r.body == b"a=b+c&d=%27x%27"
    assert ("Content-Type", "application/x-www-form-urlencoded") in r.headers
    assert ("Content-Length", "15") in r.headers
    r = ftw.build_request({"method": "POST", "data": "a=%41 b", "headers": {"Host": "h"}})
    assert r.body == b"a=%41 b"
    r = ftw.build_request({"method": "POST", "data": ["x", "y"], "stop_magic": True,
                           "headers": {"Host": "h"}})
    assert r.body == b"x\r\ny" and len(r.headers) == 1
    r = ftw.build_request({"raw_request": "GET /a b HTTP/1.0\r\nHost: h\r\n\r\n"})
    assert (r.method, r.uri, r.version, r.headers) == ("GET", "/a b", "HTTP/1.0",
                                                       [("Host", "h")])


@pytest.mark.parametrize(
    ("inp", "rejected"),
    [
        ({"method": "\tGET"}, True),
        ({"version": "HTTP/0.9"}, True),
        ({"version": "JUNK/1.0"}, True),
        ({"uri": "/a#frag"}, True),
        ({"headers": {"Host": "localhost%00"}}, True),
        ({"headers": {"Host": "h", "Content-Length": "12x"}}, True),
        ({"headers": {"Host": "h"}}, False),
        ({"method": "CONNECT", "uri": "example.com:443"}, False),
    ],
)
def test_front_end_emulation(inp: dict[str, object], rejected: bool) -> None:
    base: dict[str, object] = {"headers": {"Host": "h"}}
    base.update(inp)
    assert (ftw.front_end(ftw.build_request(base)) is not None) == rejected


def test_chunked_body_is_dechunked() -> None:
    r = ftw.build_request({"method": "POST", "stop_magic": True, "data": "3\r\nabc\r\n0\r\n\r\n",
                           "headers": {"Host": "h", "Transfer-Encoding": "chunked",
                                       "Content-Length": "99"}})
    assert ftw.front_end(r) is None and r.body == b"abc"
    assert all(k != "Content-Length" for k, _ in r.headers)


TESTS = """---
meta: {author: t, enabled: true, name: t.yaml}
tests:
  - test_title: 1-1
    stages:
      - stage:
          input: {uri: "/?q=attack", headers: {Host: localhost}}
          output: {log_contains: id "1"}
  - test_title: 1-2
    stages:
      - stage:
          input: {uri: "/?q=fine", headers: {Host: localhost}}
          output: {no_log_contains: id "1"}
  - test_title: 1-3
    stages:
      - stage:
          input: {uri: "/?q=fine", headers: {Host: localhost}}
          output: {log_contains: id "1"}
  - test_title: 1-4
    stages:
      - stage:
          input: {uri: "/", headers: {Host: localhost}}
          output: {status: 403}
"""


def test_runner_and_overrides(prims: Primitives, tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(TESTS)
    waf = make_waf(prims, 'SecRule ARGS "@rx attack" "id:1,phase:1,deny"')
    cases = ftw.load_tests([tmp_path])
    res = ftw.run_tests(waf.new_transaction, cases)
    assert [(r.title, r.outcome) for r in res] == [
        ("1-1", "pass"), ("1-2", "pass"), ("1-3", "fail"), ("1-4", "skip")]
    assert ftw.summary(res) == "2 passed, 1 failed"
    (tmp_path / "ov.yml").write_text(
        "- {test_title: 1-3, expect: fail, reason: known}\n"
        "- {test_title: 1-1, expect: skip, reason: slow}\n")
    res = ftw.run_tests(waf.new_transaction, cases, ftw.load_overrides(tmp_path / "ov.yml"))
    assert ftw.summary(res) == "2 passed, 0 failed"
    (tmp_path / "bad.yml").write_text("- {test_title: 1-3, expect: fail}\n")
    with pytest.raises(ConfigError):
        ftw.load_overrides(tmp_path / "bad.yml")


def test_cli_prints_results_and_summary(prims: Primitives, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "a.conf").write_text('SecRule ARGS "@rx attack" "id:1,phase:1,deny"\n')
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "t.yaml").write_text(TESTS)
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    cli.add_parser(sub)
    args = parser.parse_args(["test", str(tmp_path / "tests"), "--rules", str(rules),
                              "--no-crs", "--no-hyperscan"])
    out = io.StringIO()
    assert cli.run(args, out, primitives=prims) == 1
    lines = out.getvalue().splitlines()
    assert lines[-1] == "2 passed, 1 failed"
    assert any(line.startswith("FAIL 1-3") for line in lines)


STATUS_TESTS = """---
meta: {author: t, enabled: true, name: s.yaml}
tests:
  - test_title: s-1
    stages:
      - stage:
          input: {method: "\\tGET", headers: {Host: localhost}}
          output: {status: [400, 403]}
  - test_title: s-2
    stages:
      - stage:
          input: {version: "HTTP/0.9", headers: {Host: localhost}}
          output: {status: 200}
  - test_title: s-3
    stages:
      - stage:
          input: {headers: {Host: localhost, Content-Length: "50"}, stop_magic: true}
          output: {expect_error: true}
  - test_title: s-4
    stages:
      - stage:
          input: {uri: "/?q=attack", headers: {Host: localhost}}
          output: {log_contains: "\\\\[msg \\"found attack"}
"""


def test_front_end_answers_and_log_regexes_are_checked(prims: Primitives,
                                                       tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(STATUS_TESTS)
    waf = make_waf(prims, 'SecRule ARGS "@rx attack" "id:1,phase:1,deny,msg:\'found attack\'"')
    res = ftw.run_tests(waf.new_transaction, ftw.load_tests([tmp_path]))
    assert [(r.title, r.outcome) for r in res] == [
        ("s-1", "pass"), ("s-2", "fail"), ("s-3", "pass"), ("s-4", "pass")]
