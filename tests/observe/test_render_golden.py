"""Byte-for-byte regression guard for the LOGGING phase's output.

The request path's capture, the writer thread's rendering and the metrics are tuned for speed;
whatever changes there must not change a byte of what lands on disk or in ``/metrics``. This
drives ``LoggingStage`` with a fixed set of representative exchanges (plain proxying, secrets
to redact, hostile header bytes, unmatched routes, WAF blocks and COUNT matches, authorizers,
cache hits, bodies, HTTP/2 over TLS) under several logging configurations, and compares the
access log, the WAF log and the Prometheus text with ``golden/render.json``, written by the
renderer these optimisations started from.

Regenerate only for an intended output change: ``BASTION_REGEN_GOLDEN=1 pytest <this file>``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from bastion.clock import FrozenClock
from bastion.config import settings_from_data
from bastion.gateway.gateway import Gateway, build_gateway
from bastion.layers import builtin_layers
from bastion.observe import native
from bastion.pipeline import Exchange, Headers, Interruption, Request, Response, RouteMatch

GOLDEN = Path(__file__).parent / "golden" / "render.json"
SCHEMA = jsonschema.Draft202012Validator(json.loads(
    (Path(__file__).parent.parent / "vectors" / "waflog" / "waf-log.schema.json").read_text()))

CONFIGS: dict[str, dict[str, Any]] = {
    "default": {},
    "clf-trace-info": {"logging": {"access_format": "CLF", "trace": "info"}},
    "xml-redact": {"logging": {"access_format": "XML", "redact_headers": ["X-Session"]}},
    "csv-trace-off": {"logging": {"access_format": "CSV", "trace": "off"}},
    "template": {"logging": {"access_format": (
        '$context.requestId $context.identity.sourceIp "$context.identity.userAgent" '
        "$context.requestTime $context.requestTimeEpoch $context.httpMethod $context.path "
        "$context.resourcePath $context.status $context.protocol $context.responseLength "
        "$context.domainName $context.stage $context.apiId $context.error.message "
        "$context.error.responseType $context.integrationLatency $context.responseLatency "
        "$context.authorizer.principalId $context.authorizer.claims.sub "
        "$context.identity.userArn $context.identity.caller $context.waf.status "
        "$context.extendedRequestId")}},
    "waf-only": {"logging": {"access_format": "off"}, "metrics": {"enabled": False}},
}


def _gateway(tmp_path: Path, clock: FrozenClock, extra: dict[str, Any]) -> Gateway:
    api = {"openapi": "3.0.1", "info": {"title": "t", "version": "1"}, "paths": {
        "/{proxy+}": {"x-amazon-apigateway-any-method": {"x-amazon-apigateway-integration": {
            "type": "http_proxy", "uri": "http://127.0.0.1:9/{proxy}"}}}}}
    (tmp_path / "api.yaml").write_text(yaml.safe_dump(api))
    config = {"api": {"openapi": "api.yaml", "stage": "prod"}, "log_dir": "data", **extra}
    return build_gateway(settings_from_data(config, tmp_path / "bastion.yaml"), clock=clock,
                         layers=builtin_layers())


def _wire(pairs: list[tuple[str, str]]) -> Headers:
    """Headers as uvicorn hands them over: bytes, lower-case names plus the names as sent."""
    raw = [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in pairs]
    return Headers.from_asgi(raw, [n.encode("latin-1") for n, _ in pairs])


BENCH = [("Host", "127.0.0.1:8080"), ("User-Agent", "bench/1.0"),
         ("Accept", "application/json"), ("X-Request-Id", "42")]
SECRETS = [("Host", "api.example.com"), ("Authorization", "Bearer very-secret-token"),
           ("Cookie", "session=s3cr3t"), ("x-api-key", "KeyValue0123456789abcdef"),
           ("X-Session", "sess-1"), ("X-Amz-Security-Token", "tok"),
           ("User-Agent", "curl/8.5")]
LONG = ("X-Long", "v" * 8200)   # past the redactor's length limit: cut, with "..."
HOSTILE = [("Host", "h\"ost"), ("User-Agent", 'quo"te\\back\x01ctrl\x7f'),
           ("X-Latin", "caf\xe9 \xff"), ("X-Empty", ""), ("x-dup", "1"), ("X-Dup", "2")]


def _cases(long: bool) -> list[dict[str, Any]]:
    """What to set on each exchange; ``long`` adds an over-long header (kept to one
    configuration: it would make up most of the golden file)."""
    return [
        {"path": "/prod/api/v1/items", "query": "id=123&sort=asc", "headers": _wire(BENCH)},
        {"path": "/prod/pets/7", "query": "X-Amz-Signature=abcdef&q=1&password=hunter2",
         "headers": _wire(SECRETS + [LONG] * long)},
        {"path": "/prod/a%20b/%C3%A9", "query": "q=%41&r&&\xc4=1", "headers": _wire(HOSTILE),
         "method": "PATCH"},
        {"path": "/nope", "query": "", "headers": _wire(BENCH), "unmatched": True,
         "why": Interruption(response_type="MISSING_AUTHENTICATION_TOKEN", status=403,
                             message="Missing Authentication Token", reason="no stage prefix"),
         "trace": [("route", "interrupted"), ("chain", "interrupted")]},
        {"path": "/prod/login", "query": "user=a", "headers": _wire(BENCH), "method": "POST",
         "body": b'{"u":"a"}' * 10, "labels": ["awswaf:managed:sqli", "bastion:x"],
         "waf_log": {"action": "BLOCK", "terminating_rule_id": "SQLi",
                     "terminating_rule_type": "REGULAR", "response_code_sent": 403,
                     "body_inspected": 90},
         "why": Interruption(response_type="WAF_FILTERED", status=403, message="Forbidden",
                             reason="rule SQLi"),
         "trace": [("webacl", "block"), ("chain", "interrupted")], "status": 403},
        {"path": "/prod/count", "query": "", "headers": _wire(BENCH), "labels": ["c:1"],
         "waf_log": {"action": "ALLOW", "non_terminating": [{"ruleId": "c1", "action": "COUNT"}],
                     "terminating_rule_id": "Default_Action", "body_inspected": 0},
         "trace": [("webacl", "count")]},
        {"path": "/prod/me", "query": "", "headers": Headers([("Host", "api.example.com"),
                                                              ("User-Agent", "snow \u2603")]),
         "principal": "alice", "authorizer": {"principalId": "alice", "claims": {
             "sub": "alice", "password": "pw"}, "token": "t"},
         "identity": {"userArn": "arn:aws:iam::1:user/alice", "caller": "AIDA", "user": "alice",
                      "accountId": "1"},
         "timings": {"authorizer": 0.0012345, "cedar": 0.0000501, "webacl": 0.00033},
         "cache": "hit", "http_version": "2", "scheme": "https"},
        {"path": "/prod/slow", "query": "a=1", "headers": _wire(BENCH), "status": 504,
         "why": Interruption(response_type="INTEGRATION_TIMEOUT", status=504,
                             message="Endpoint request timed out", reason="upstream slow"),
         "timings": {"integration": 29.0}, "cache": "miss", "response_bytes": 0},
    ]


def _exchange(gw: Gateway, clock: FrozenClock, i: int, case: dict[str, Any]) -> Exchange:
    req = Request(method=case.get("method", "GET"), raw_path=case["path"],
                  query_string=case["query"], headers=case["headers"],
                  body=case.get("body", b""), client_ip=f"203.0.113.{i}", client_port=5000,
                  scheme=case.get("scheme", "http"),
                  http_version=case.get("http_version", "1.1"), host="127.0.0.1:8080")
    ex = gw.exchange(req)
    ex.request_id = f"00000000-0000-4000-8000-{i:012d}"
    if not case.get("unmatched"):
        ex.route = RouteMatch(route=gw.api.routes[0], resource_path="/{proxy+}",
                              path=case["path"][len("/prod"):], path_params={})
    ex.timings.update({"route": 0.000002, "integration": 0.00039,
                       **case.get("timings", {})})
    ex.principal = case.get("principal")
    ex.authorizer = case.get("authorizer")
    ex.identity = dict(case.get("identity", {}))
    ex.labels = list(case.get("labels", []))
    for stage, event in case.get("trace", []):
        ex.note(stage, event, detail="x")
    if "waf_log" in case:
        ex.notes["waf_log"] = case["waf_log"]
    if "cache" in case:
        ex.notes["cache"] = case["cache"]
    ex.interruption = case.get("why")
    status = case.get("status", 200)
    ex.response = Response(status, [("Content-Type", "application/json")], b"x" * 66)
    ex.response_bytes = case.get("response_bytes", 66)
    clock.advance(0.000537 * (i + 1))
    return ex


def _render(tmp_path: Path, name: str, c_part: bool) -> dict[str, str]:
    clock = FrozenClock()
    gw = _gateway(tmp_path, clock, CONFIGS[name])
    stage = next(s for s, _ in gw.chain._logging if s.name == "observe")
    # the C renderer takes every configuration but the template with authorizer.claims.sub
    assert (stage.native is not None) == (c_part and name != "template")
    for rep in range(2):   # the writer's caches are warm in the second round
        for i, case in enumerate(_cases(long=rep == 0 and name == "default")):
            stage.run(_exchange(gw, clock, rep * 100 + i, case))
        clock.advance(1.5)
    writer = gw.ctx.resources.get("log_writer")
    if writer is not None:
        writer.flush()
    out: dict[str, str] = {}
    for kind in ("access", "waf"):
        files = sorted((tmp_path / "data" / "logs" / kind).rglob("*.jsonl"))
        out[kind] = "".join(f.read_text(encoding="utf-8") for f in files)
    metrics = gw.ctx.resources.get("metrics")
    out["metrics"] = metrics.expose() if metrics is not None else ""
    if writer is not None:
        writer.close()
    return out


@pytest.mark.parametrize("c_part", [
    pytest.param(True, id="c", marks=pytest.mark.skipif(
        native.Lines is None and not os.environ.get("CI"), reason="built without the C part")),
    pytest.param(False, id="python")])
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_rendered_output_is_byte_identical_to_the_golden_copy(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, c_part: bool) -> None:
    """Both renderers: the C part for the usual request (``bastion.observe.native``) and the
    Python one for everything (``BASTION_NATIVE_LOGS=0``, or a build without a compiler)."""
    if not c_part:
        monkeypatch.setenv("BASTION_NATIVE_LOGS", "0")
    got = _render(tmp_path, name, c_part)
    for line in got["waf"].splitlines():
        SCHEMA.validate(json.loads(line))
    secrets = ["very-secret-token", "s3cr3t", "KeyValue0123", "hunter2", "abcdef", "pw"]
    if "redact_headers" in CONFIGS[name].get("logging", {}):
        secrets.append("sess-1")
    for secret in secrets:
        assert f'"{secret}' not in got["waf"] + got["access"]
        assert f"={secret}" not in got["waf"] + got["access"]
    golden = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
    if os.environ.get("BASTION_REGEN_GOLDEN"):
        golden[name] = got
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True, ensure_ascii=True) + "\n")
    expected = golden[name]
    for kind in ("access", "waf", "metrics"):
        assert got[kind].splitlines() == expected[kind].splitlines(), kind
        assert got[kind] == expected[kind], kind
