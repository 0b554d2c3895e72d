"""The C renderer (``bastion.observe._lines``) against the Python one it stands in for.

Two gateways built from the same configuration, one with the C part and one without
(``BASTION_NATIVE_LOGS=0``), log the same generated exchanges; the access lines, the WAF lines
and the Prometheus text must be the same bytes. The exchanges mix what the C part renders
(the usual request) with what it hands back to Python (authorizer contexts, WAF details,
non-ASCII header names), so the order of lines across both paths is checked too.
"""

from __future__ import annotations

import asyncio
import json
import os
import string
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.clock import FrozenClock, SystemClock
from bastion.config import settings_from_data
from bastion.gateway.gateway import Gateway, build_gateway
from bastion.layers import builtin_layers
from bastion.observe import native
from bastion.observe.redact import Redactor
from bastion.observe.wafencode import WafLineEncoder
from bastion.observe.waflog import WafLogBuilder
from bastion.pipeline import Exchange, Headers, Interruption, Request, Response, RouteMatch

# CI builds the C part (.ci/run installs gcc and the headers): there a missing one fails
pytestmark = pytest.mark.skipif(native.Lines is None and not os.environ.get("CI"),
                                reason="built without the C part")

CONFIGS: dict[str, dict[str, Any]] = {
    "json": {},
    "clf-info": {"logging": {"access_format": "CLF", "trace": "info"}},
    "xml-redact": {"logging": {"access_format": "XML", "redact_headers": ["X-Session"]}},
    "csv-off": {"logging": {"access_format": "CSV", "trace": "off"}},
    "template": {"logging": {"access_format": (
        '$context.requestId "$context.identity.userAgent" $context.requestTime '
        "$context.requestTimeEpoch $context.path $context.domainName $context.domainPrefix "
        "$context.stage $context.apiId $context.accountId $context.error.message "
        "$context.error.messageString $context.error.responseType $context.integrationLatency "
        "$context.responseLatency $context.authorizer.principalId $context.identity.userArn "
        "$context.identity.apiKeyId $context.waf.status $context.waf.latency "
        "$context.wafResponseCode $context.webaclArn $context.authorizer.latency "
        "$context.integration.latency $context.xrayTraceId "
        "$context.identity.clientCert.subjectDN")}},
    "waf-only": {"logging": {"access_format": "off"}},
    "metrics-only": {"logging": {"enabled": False}},
    # AWS WAF's logging configuration: keep BLOCK and labelled records, redact the query
    # string, the URI path, the method and a header (Lines.render calls the filter)
    "aws-logging-config": {"logging": {"waf_logging_configuration": "waf-logging.json"}},
}
AWS_LOGGING = {"LoggingConfiguration": {
    "RedactedFields": [{"QueryString": {}}, {"UriPath": {}}, {"Method": {}},
                       {"SingleHeader": {"Name": "accept"}}],
    "LoggingFilter": {"DefaultBehavior": "DROP", "Filters": [
        {"Behavior": "KEEP", "Requirement": "MEETS_ANY", "Conditions": [
            {"ActionCondition": {"Action": "BLOCK"}},
            {"LabelNameCondition": {"LabelName": "bastion:y"}}]}]}}}


def _gateway(tmp_path: Path, extra: dict[str, Any], clock: Any) -> Gateway:
    api = {"openapi": "3.0.1", "info": {"title": "t", "version": "1"}, "paths": {
        "/{proxy+}": {"x-amazon-apigateway-any-method": {"x-amazon-apigateway-integration": {
            "type": "http_proxy", "uri": "http://127.0.0.1:9/{proxy}"}}}}}
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "api.yaml").write_text(yaml.safe_dump(api))
    (tmp_path / "waf-logging.json").write_text(json.dumps(AWS_LOGGING))
    config = {"api": {"openapi": "api.yaml", "stage": "prod", "account_id": "123456789012"},
              "log_dir": "data", **extra}
    return build_gateway(settings_from_data(config, tmp_path / "bastion.yaml"), clock=clock,
                         layers=builtin_layers())


class Pair:
    """The same configuration with and without the C renderer, and what each wrote."""

    def __init__(self, base: Path, extra: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                 clock: Any = None) -> None:
        self.clock = clock or FrozenClock(1_700_000_000.0)
        self.c = _gateway(base / "c", extra, self.clock)
        with monkeypatch.context() as m:
            m.setenv("BASTION_NATIVE_LOGS", "0")
            self.py = _gateway(base / "py", extra, self.clock)
        self.dirs = {"c": base / "c", "py": base / "py"}
        self.read: dict[Path, int] = {}

    def stage(self, gw: Gateway) -> Any:
        return next(s for s, _ in gw.chain._logging if s.name == "observe")

    def new_lines(self, side: str) -> dict[str, str]:
        gw = self.c if side == "c" else self.py
        if "log_writer" not in gw.ctx.resources:
            return {}
        gw.ctx.resources["log_writer"].flush()
        out = {}
        for kind in ("access", "waf"):
            text = ""
            for f in sorted((self.dirs[side] / "data" / "logs" / kind).rglob("*.jsonl")):
                data = f.read_bytes()
                text += data[self.read.get(f, 0):].decode()
                self.read[f] = len(data)
            out[kind] = text
        return out

    def close(self) -> None:
        asyncio.run(self.c.close())
        asyncio.run(self.py.close())


LATIN1 = st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=12)
NAMES = st.sampled_from(["Host", "User-Agent", "Accept", "X-Session", "Authorization",
                         "Cookie", "x-api-key", "X-Forwarded-For", "X-Empty", "h\xe9"])
CASE = st.fixed_dictionaries({
    "method": st.sampled_from(["GET", "POST", "PATCH", "BREW"]),
    "path": st.text(string.ascii_letters + "/%20-\"\\\u00e9\u2603", min_size=1, max_size=16),
    "query": st.sampled_from(["", "a=1", "id=123&sort=asc", "X-Amz-Signature=abc&q=1",
                              "password=hunter2", "q=%41+b&&r", "\xe9=1"]),
    "headers": st.lists(st.tuples(NAMES, LATIN1), max_size=6),
    "status": st.sampled_from([200, 204, 403, 502, 504]),
    "matched": st.booleans(),
    "labels": st.lists(st.sampled_from(["awswaf:x", "bastion:y", "c:\"q\""]), max_size=3),
    "trace": st.lists(st.tuples(st.sampled_from(["route", "webacl", "chain"]),
                                st.sampled_from(["interrupted", "count", "allow"])),
                      max_size=3),
    "principal": st.one_of(st.none(), st.sampled_from(["alice", "b\"ob", ""])),
    "authorizer": st.one_of(st.none(), st.just({"principalId": "alice", "password": "pw"})),
    "identity": st.one_of(st.just({}), st.just({"userArn": "arn:aws:iam::1:user/a",
                                                "caller": "AIDA", "apiKeyId": "k1"})),
    "why": st.one_of(st.none(), st.sampled_from([
        Interruption(response_type="WAF_FILTERED", status=403, message="Forbidden",
                     reason="rule SQLi"),
        Interruption(response_type="INTEGRATION_TIMEOUT", status=504,
                     message='Endpoint "request" timed out', reason="slow")])),
    "waf_log": st.one_of(st.none(), st.just({}), st.sampled_from([
        {"action": "BLOCK", "terminating_rule_id": "SQLi", "terminating_rule_type": "REGULAR",
         "response_code_sent": 403, "body_inspected": 9},
        {"action": "ALLOW", "non_terminating": [{"ruleId": "c1", "action": "COUNT"}]},
        {"action": "BLOCK", "terminating_match_details": [
            {"conditionType": "SQL_INJECTION", "location": "QUERY_STRING",
             "matchedData": ["1", "or"]}]}])),
    "timings": st.dictionaries(st.sampled_from(["integration", "webacl", "authorizer", "crs"]),
                               st.floats(0, 30, allow_nan=False), max_size=3),
    "cache": st.sampled_from([None, "hit", "miss"]),
    "version": st.sampled_from(["1.1", "2", "1.0"]),
    "body": st.binary(max_size=20),
})


def _exchange(gw: Gateway, i: int, case: dict[str, Any]) -> Exchange:
    req = Request(method=case["method"], raw_path=case["path"], query_string=case["query"],
                  headers=Headers(case["headers"]), body=case["body"],
                  client_ip=f"203.0.113.{i % 250}", http_version=case["version"],
                  scheme="https" if case["version"] == "2" else "http")
    ex = gw.exchange(req)
    ex.request_id = f"00000000-0000-4000-8000-{i:012d}"
    if case["matched"]:
        ex.route = RouteMatch(route=gw.api.routes[0], resource_path="/{proxy+}",
                              path=case["path"], path_params={})
    ex.timings.update(case["timings"])
    ex.principal = case["principal"]
    ex.authorizer = case["authorizer"]
    ex.identity = dict(case["identity"])
    ex.labels = list(case["labels"])
    for stage, event in case["trace"]:
        ex.note(stage, event)
    if case["waf_log"] is not None:
        ex.notes["waf_log"] = dict(case["waf_log"])
    if case["cache"] is not None:
        ex.notes["cache"] = case["cache"]
    ex.interruption = case["why"]
    ex.response = Response(case["status"], [], b"x" * 3)
    ex.response_bytes = 3
    return ex


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_native_and_python_renderers_write_the_same_bytes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    pair = Pair(tmp_path, CONFIGS[name], monkeypatch)
    c_stage, py_stage = pair.stage(pair.c), pair.stage(pair.py)
    assert c_stage.native is not None and py_stage.native is None
    counter = iter(range(10**6))

    @settings(max_examples=60, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(CASE, min_size=1, max_size=4))
    def check(cases: list[dict[str, Any]]) -> None:
        for case in cases:
            i = next(counter)
            pair.clock.advance(0.37)
            c_stage.run(_exchange(pair.c, i, case))
            py_stage.run(_exchange(pair.py, i, case))
        assert pair.new_lines("c") == pair.new_lines("py")
        cm, pm = pair.c.ctx.resources.get("metrics"), pair.py.ctx.resources.get("metrics")
        assert (cm.expose() if cm else "") == (pm.expose() if pm else "")

    check()
    if "log_writer" in pair.c.ctx.resources:
        c_writer = pair.c.ctx.resources["log_writer"].stats()
        py_writer = pair.py.ctx.resources["log_writer"].stats()
        assert (c_writer.submitted, c_writer.written, c_writer.failed, c_writer.filtered) == \
            (py_writer.submitted, py_writer.written, py_writer.failed, py_writer.filtered)
        # the C part did render most of them (not a test of Python against itself)
        rendered = c_stage.native.stats()[0]
        assert rendered > c_writer.written / 3
    pair.close()


def test_the_c_stage_computes_what_the_python_stage_computes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the system clock the whole stage runs in C (``Lines.run``): the same lines as the
    Python stage but for the total latency, which each side reads from the clock itself."""
    pair = Pair(tmp_path, {"logging": {"access_format": "CLF", "trace": "errors"}},
                monkeypatch, clock=SystemClock())
    c_stage, py_stage = pair.stage(pair.c), pair.stage(pair.py)
    assert c_stage.run == c_stage.native.run   # bound at build time
    cases = [
        {"timings": {"integration": 0.0123, "webacl": 0.001, "crs": 0.002, "iam": 0.0001}},
        {"why": Interruption(response_type="THROTTLED", status=429, message="Too Many",
                             reason="rate"), "trace": [("throttle", "interrupted")]},
        {"waf_log": {"action": "BLOCK", "terminating_rule_id": "R", "response_code_sent": 403}},
        {"authorizer": {"principalId": "a"}, "principal": "a"},
        {"timings": {"integration": 1}},   # an int: the C stage hands it to the Python one
    ]
    for i, extra in enumerate(cases):
        case = {"method": "GET", "path": "/prod/x", "query": "a=1", "status": 200,
                "headers": [("Host", "h"), ("User-Agent", "u")], "matched": True,
                "labels": [], "trace": [], "principal": None, "authorizer": None,
                "identity": {}, "why": None, "waf_log": None, "timings": {}, "cache": None,
                "version": "1.1", "body": b""} | extra
        for gw, stage in ((pair.c, c_stage), (pair.py, py_stage)):
            ex = _exchange(gw, i, case)
            ex.started_at = 1_700_000_000.0 + i
            stage.run(ex)
    c, py = pair.new_lines("c"), pair.new_lines("py")
    assert c["access"] == py["access"]
    c_waf = [json.loads(x) for x in c["waf"].splitlines()]
    py_waf = [json.loads(x) for x in py["waf"].splitlines()]
    for rec in c_waf + py_waf:
        rec["bastion"]["latencyMs"].pop("total")
    assert c_waf == py_waf and len(c_waf) == len(cases)
    cm, pm = pair.c.ctx.resources["metrics"], pair.py.ctx.resources["metrics"]
    cm.fold()
    pm.fold()
    assert sorted(cm.requests.items()) == sorted(pm.requests.items())
    assert sorted(cm.rule_matches.items()) == sorted(pm.rule_matches.items())
    assert cm.upstream.snapshot()[:2] == pm.upstream.snapshot()[:2]   # same buckets
    pair.close()


def test_lines_past_the_buffer_bound_are_dropped_and_counted(tmp_path: Path) -> None:
    """The C buffers are bounded: past ``max_bytes`` a request's lines are dropped and counted
    per kind, never buffered without bound; once taken, lines flow again."""
    gw = _gateway(tmp_path, {"logging": {"enabled": False}}, FrozenClock(1_700_000_000.0))
    red = Redactor()
    lines = native.Lines(
        access_vars=(1, 14), literals=(b"", b" ", b""), escape=3, waf=True,
        allow_mid=WafLineEncoder(WafLogBuilder(webacl_id="w", http_source_id="a:prod",
                                               redactor=red)).allow_prefix(),
        plan=lambda fields, status: None, secret_headers=frozenset({b"authorization"}),
        max_value_length=8192, redact_uri=False, redact_method=False, query=red.query,
        keeps=None, stage="prod", api_id="a", account_id="", webacl_arn="arn",
        max_bytes=4096, wake_bytes=1024, wake=None)
    case = {"method": "GET", "path": "/x", "query": "", "status": 200,
            "headers": [("User-Agent", "u" * 600)], "matched": False, "labels": [],
            "trace": [], "principal": None, "authorizer": None, "identity": {}, "why": None,
            "waf_log": None, "timings": {}, "cache": None, "version": "1.1", "body": b""}
    done = [lines.render(_exchange(gw, i, case), 200, 0.001, 0.0, 0.0, 0.0, None, False)
            for i in range(10)]
    assert done == [1] * 10   # handled (kept or dropped) by the C part, no metrics asked
    rendered, dropped_access, dropped_waf, filtered, failed, buffered = lines.stats()
    kept = rendered // 2   # each request: an access line and a WAF line of ~1.3 KB
    assert 1 <= kept < 10 and rendered == buffered == 2 * kept
    assert dropped_access == dropped_waf == 10 - kept and (filtered, failed) == (0, 0)
    chunks = lines.take()
    assert [(kind, count) for kind, _, _, count in chunks] == [(0, kept), (1, kept)]
    assert sum(len(c[2]) for c in chunks) <= 4096
    assert chunks[0][2].count(b"\n") == kept and b" 200\n" in chunks[0][2]
    assert lines.render(_exchange(gw, 11, case), 200, 0.001, 0.0, 0.0, 0.0, None, False) == 1
    assert lines.stats()[0] == rendered + 2
    lines.close()
    assert lines.render(_exchange(gw, 12, case), 200, 0.001, 0.0, 0.0, 0.0, None, False) == 0
    asyncio.run(gw.close())


def test_lines_either_side_of_midnight_go_to_their_own_day(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The C buffers hold one day's lines: a line of the next day seals them, so each lands in
    its own ``dt=`` partition, as the Python writer files them."""
    midnight = 86400.0 * 19700   # 2023-12-09T00:00:00Z
    pair = Pair(tmp_path, {}, monkeypatch, clock=FrozenClock(midnight - 1.5))
    case = {"method": "GET", "path": "/x", "query": "", "status": 200,
            "headers": [("Host", "h")], "matched": True, "labels": [], "trace": [],
            "principal": None, "authorizer": None, "identity": {}, "why": None,
            "waf_log": None, "timings": {}, "cache": None, "version": "1.1", "body": b""}
    for i in range(4):   # two before midnight, two after
        for gw in (pair.c, pair.py):
            pair.stage(gw).run(_exchange(gw, i, case))
        pair.clock.advance(1.0)
    for side in ("c", "py"):
        pair.new_lines(side)
    for kind in ("access", "waf"):
        days = {side: sorted((f.parent.name, len(f.read_text().splitlines()))
                             for f in (pair.dirs[side] / "data" / "logs" / kind)
                             .rglob("*.jsonl"))
                for side in ("c", "py")}
        assert days["c"] == days["py"] == [("dt=2023-12-08", 2), ("dt=2023-12-09", 2)]
    pair.close()
