"""``bastion try`` on the PetStore demo: the response, the decision and the log lines a request
would get from ``bastion serve``, and case files with expectations for CI."""

from __future__ import annotations

import json
from pathlib import Path

import defusedxml.ElementTree as DefusedET
import jsonschema
import pytest
import yaml

from bastion.cli import main
from bastion.demo import DEMO_API_KEY, mint_id_token, prepare
from tests.observe.hive_schema import VECTORS

WAF_SCHEMA = jsonschema.Draft202012Validator(
    json.loads((VECTORS / "waf-log.schema.json").read_text()))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare(tmp_path_factory.mktemp("demo")).config


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_the_demo_cases_pass(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["try", "-c", str(demo), "--cases", str(demo.parent / "cases.yaml")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "15 passed, 0 failed"
    assert all(line.startswith("PASS ") for line in out[:-1])


def test_a_blocked_request_shows_response_decision_and_log_lines(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["try", "-c", str(demo), "GET", "/prod/pets?id=1' OR 1=1--",
                 "-H", "User-Agent: curl/8", "--ip", "203.0.113.9"])
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "HTTP/1.1 403 Forbidden"
    assert "x-amzn-ErrorType: WafFilteredException" in lines
    assert '{"message":"Forbidden"}' in lines
    assert "waf: BLOCK by OWASP-CoreRuleSet (MANAGED_RULE_GROUP); labels: " in out
    # every block explained: the CRS rule, its variable and what it matched
    assert "crs: 942100 SQL Injection Attack Detected via libinjection [ARGS:id]" in lines
    assert "     Matched Data: s&1c found within ARGS:id: 1' OR 1=1--" in lines
    waf = json.loads(next(x for x in lines if x.startswith("waf log: "))[9:])
    assert list(WAF_SCHEMA.iter_errors(waf)) == []
    assert waf["httpRequest"]["clientIp"] == "203.0.113.9"
    assert waf["httpRequest"]["args"] == "id=1'%20OR%201=1--"   # escaped as a client must
    access = json.loads(next(x for x in lines if x.startswith("access log: "))[12:])
    assert (access["status"], access["ip"]) == ("403", "203.0.113.9")
    assert access["requestId"] == waf["httpRequest"]["requestId"]


def test_json_output_is_one_object(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["try", "-c", str(demo), "GET", "/prod/pets/1", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["status"] == 200 and json.loads(got["body"])["id"] == 1
    assert got["waf_log"]["action"] == "ALLOW"
    assert ["Content-Length", str(len(got["body"]))] in got["headers"]


def test_signed_requests_reach_the_iam_decision(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["try", "-c", str(demo), "--access-key", "AKIAPETSTOREREADER01",
            "--secret-key", "demo-reader-secret"]
    assert main([*base, "GET", "/prod/admin/pets"]) == 0
    assert capsys.readouterr().out.startswith("HTTP/1.1 200 OK")
    assert main([*base, "POST", "/prod/admin/pets", "-d", '{"type": "cat", "price": 3}',
                 "-H", "Content-Type: application/json"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("HTTP/1.1 403 Forbidden")
    assert "x-amzn-ErrorType: AccessDeniedException" in out
    assert "crs: 920180" not in out   # a body goes with its Content-Length, as clients send it


def test_cases_pass_and_a_wrong_expectation_fails(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text(yaml.safe_dump({"cases": [
        {"name": "public pet", "request": "GET /prod/pets/1",
         "expect": {"status": 200, "waf_action": "ALLOW", "body_contains": '"id": 1'}},
        {"name": "sqli", "request": "GET /prod/pets?id=1' OR 1=1--",
         "expect": {"status": 403, "waf_action": "BLOCK", "error_type": "WafFilteredException",
                    "terminating_rule": "OWASP-CoreRuleSet",
                    "labels": ["awswaf:managed:owasp:core-rule-set:CRS-942100"]}},
        {"name": "cognito", "request": "GET /prod/me/pets",
         "headers": {"Authorization": mint_id_token()}, "expect": {"status": 200}},
        {"name": "no token", "request": "GET /prod/me/pets",
         "expect": {"status": 401, "body": '{"message":"Unauthorized"}'}},
        {"name": "partner key", "request": "GET /prod/partner/pets",
         "headers": {"x-api-key": DEMO_API_KEY}, "expect": {"status": 200}},
        {"name": "admin may create", "request": "POST /prod/admin/pets",
         "headers": {"Content-Type": "application/json"}, "body": '{"type": "cat", "price": 3}',
         "sign": {"access_key": "AKIAPETSTOREADMIN001", "secret_key_env": "TRY_ADMIN_SECRET"},
         "expect": {"status": 201}},
        {"name": "rate limit reached", "request": "GET /prod/pets/1", "ip": "203.0.113.20",
         "repeat": 1001, "expect": {"status": 429, "waf_action": "BLOCK",
                                    "terminating_rule": "RateLimitPerIP"}},
        {"name": "per IP", "request": "GET /prod/pets/1", "ip": "203.0.113.21",
         "expect": {"status": 200}},
        {"name": "wrong on purpose", "request": "GET /prod/nothing", "repeat": 2,
         "expect": {"status": 404, "labels": ["awswaf:nope"]}},
    ]}))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRY_ADMIN_SECRET", "demo-admin-secret")
        code = main(["try", "-c", str(demo), "--cases", str(cases),
                     "--junit", str(tmp_path / "report.xml")])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out[:8] == ["PASS public pet", "PASS sqli", "PASS cognito", "PASS no token",
                       "PASS partner key", "PASS admin may create", "PASS rate limit reached",
                       "PASS per IP"]
    assert out[8].startswith("FAIL wrong on purpose: status 403, expected 404; labels "
                             "['awswaf:nope'] missing")
    assert out[9] == "8 passed, 1 failed"
    suite = DefusedET.parse(tmp_path / "report.xml").getroot()
    assert (suite.tag, suite.get("tests"), suite.get("failures")) == ("testsuite", "9", "1")
    failed = [tc for tc in suite.iter("testcase") if tc.find("failure") is not None]
    assert [tc.get("name") for tc in failed] == ["wrong on purpose"]
    assert failed[0].find("failure").get("message") == "status 403, expected 404"  # type: ignore[union-attr]


def test_try_writes_nothing_where_serve_would_and_never_touches_redis(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = prepare(tmp_path / "demo").config
    data = yaml.safe_load(config.read_text())
    data["state"] = "redis://127.0.0.1:9/0"   # nothing listens there
    config.write_text(yaml.safe_dump(data))
    before = _files(tmp_path)
    for _ in range(3):
        assert main(["try", "-c", str(config), "GET", "/prod/partner/pets",
                     "-H", f"x-api-key: {DEMO_API_KEY}"]) == 0
        assert capsys.readouterr().out.startswith("HTTP/1.1 200 OK")   # quota in memory
    assert _files(tmp_path) == before   # no log line, no audit record, no key file change


def test_a_bad_cases_file_names_file_line_and_key(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = tmp_path / "bad.yaml"
    cases.write_text("cases:\n"
                     "  - request: FETCH\n"
                     "    expect: {status: '200', colour: red}\n"
                     "  - request: GET /prod/pets\n"
                     "    repeat: 0\n")
    assert main(["try", "-c", str(demo), "--cases", str(cases)]) == 2
    err = capsys.readouterr().err
    assert f"{cases}:2: cases[0].request: must be 'METHOD /path?query'" in err
    assert f"{cases}:3: cases[0].expect.status: must be an integer" in err
    assert f"{cases}:3: cases[0].expect.colour: unknown key" in err
    assert f"{cases}:5: cases[1].repeat: must be between 1 and 10000" in err
    assert "Traceback" not in err


def test_a_record_the_logging_filter_drops_is_said_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = prepare(tmp_path / "demo").config
    (config.parent / "waf-logging.json").write_text(json.dumps({"LoggingConfiguration": {
        "LoggingFilter": {"DefaultBehavior": "DROP", "Filters": [{
            "Behavior": "KEEP", "Requirement": "MEETS_ANY",
            "Conditions": [{"ActionCondition": {"Action": "BLOCK"}}]}]}}}))
    data = yaml.safe_load(config.read_text())
    data["logging"] = {"waf_logging_configuration": "waf-logging.json"}
    config.write_text(yaml.safe_dump(data))
    assert main(["try", "-c", str(config), "GET", "/prod/pets/1"]) == 0
    out = capsys.readouterr().out
    assert "waf log: none (the web ACL's LoggingFilter drops this record)" in out
    assert "access log: " in out
    assert main(["try", "-c", str(config), "GET", "/prod/pets?id=1' OR 1=1--"]) == 0
    assert '"action":"BLOCK"' in capsys.readouterr().out
    # expectations judge the decision, written or not
    cases = tmp_path / "cases.yaml"
    cases.write_text(yaml.safe_dump({"cases": [{
        "name": "allowed, not logged", "request": "GET /prod/pets/1",
        "expect": {"waf_action": "ALLOW", "terminating_rule": "Default_Action"}}]}))
    assert main(["try", "-c", str(config), "--cases", str(cases)]) == 0
    assert capsys.readouterr().out.startswith("PASS allowed, not logged")


def test_unreadable_inputs_and_unwritable_reports_are_errors_not_tracebacks(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "missing")
    assert main(["try", "-c", str(demo), "POST", "/prod/pets", "--data-file", missing]) == 2
    assert f"error: --data-file {missing}: No such file or directory" in capsys.readouterr().err
    cases = tmp_path / "one.yaml"
    cases.write_text("cases:\n  - {request: GET /prod/pets/1, expect: {status: 200}}\n")
    report = str(tmp_path / "no-such-dir" / "r.xml")
    assert main(["try", "-c", str(demo), "--cases", str(cases), "--junit", report]) == 2
    captured = capsys.readouterr()
    assert "1 passed, 0 failed" in captured.out
    assert f"error: --junit {report}: No such file or directory" in captured.err
    assert "Traceback" not in captured.err

