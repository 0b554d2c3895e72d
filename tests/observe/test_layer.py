"""The logging phase through the gateway: AWS-schema WAF records, access logs, redaction,
metrics endpoints, the audit trail's configuration event."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from bastion.clock import FrozenClock
from bastion.config import settings_from_data
from bastion.gateway.gateway import build_gateway
from bastion.http.app import BastionApp
from bastion.layers import builtin_layers
from bastion.observe.audit import verify as verify_audit
from bastion.observe.audit.signing import load_public_key
from bastion.observe.metrics import GatewayMetrics
from tests.helpers import call

VECTORS = Path(__file__).parent.parent / "vectors" / "waflog"
SCHEMA = jsonschema.Draft202012Validator(json.loads((VECTORS / "waf-log.schema.json").read_text()))


def app_for(tmp_path: Path, clock: FrozenClock, **cfg: Any) -> BastionApp:
    api = {"openapi": "3.0.1", "info": {"title": "t", "version": "1"}, "paths": {
        "/pets/{id}": {"get": {"x-amazon-apigateway-integration": {
            "type": "aws_proxy", "uri": "tests.gateway.handlers:echo"}}}}}
    (tmp_path / "api.yaml").write_text(yaml.safe_dump(api))
    config = {"api": {"openapi": "api.yaml", "stage": "prod"}, "log_dir": "data", **cfg}
    return BastionApp(build_gateway(settings_from_data(config, tmp_path / "bastion.yaml"),
                                    clock=clock, layers=builtin_layers()))


def records(tmp_path: Path, kind: str) -> list[Any]:
    lines: list[Any] = []
    for f in sorted((tmp_path / "data" / "logs" / kind).rglob("*.jsonl")):
        lines += [json.loads(x) for x in f.read_text().splitlines() if x.strip()]
    return lines


def test_every_request_is_logged_in_aws_schemas_with_secrets_redacted(
        tmp_path: Path, clock: FrozenClock) -> None:
    app = app_for(tmp_path, clock)
    secret_headers = [("Authorization", "Bearer very-secret-token"),
                      ("x-api-key", "KeyValue0123456789abcdef"), ("Cookie", "session=s3cr3t"),
                      ("User-Agent", "test/1")]
    ok = asyncio.run(call(app, "GET", "/prod/pets/7", headers=secret_headers,
                          query="X-Amz-Signature=abcdef&q=1"))
    miss = asyncio.run(call(app, "GET", "/prod/nope"))
    asyncio.run(app.gateway.close())
    waf = records(tmp_path, "waf")
    assert len(waf) == 2
    for rec in waf:
        SCHEMA.validate(rec)
    first, second = waf
    assert first["httpRequest"]["requestId"] == ok.header("x-amzn-RequestId")
    assert first["terminatingRuleId"] == "Default_Action" and first["action"] == "ALLOW"
    assert first["bastion"]["route"] == "/pets/{id}" and first["bastion"]["status"] == 200
    assert second["bastion"]["responseType"] == "MISSING_AUTHENTICATION_TOKEN"
    assert second["httpRequest"]["requestId"] == miss.header("x-amzn-RequestId")
    text = json.dumps(waf)
    for secret in ("very-secret-token", "KeyValue0123456789abcdef", "s3cr3t", "abcdef"):
        assert secret not in text
    access = records(tmp_path, "access")
    assert [a["status"] for a in access] == ["200", "403"]
    assert access[0]["requestId"] == ok.header("x-amzn-RequestId")
    assert "very-secret-token" not in json.dumps(access)


def test_metrics_endpoints(tmp_path: Path, clock: FrozenClock) -> None:
    app = app_for(tmp_path, clock, logging={"enabled": False})
    for path in ("/prod/pets/1", "/prod/pets/2", "/prod/nope"):
        asyncio.run(call(app, "GET", path))
    prom = asyncio.run(call(app, "GET", "/metrics"))
    assert prom.status == 200
    text = prom.body.decode()
    assert 'route="/pets/{id}"' in text and "_total" in text and "_seconds_bucket" in text
    assert "/pets/1" not in text  # never the raw path as a label
    cw = asyncio.run(call(app, "GET", "/_bastion/metrics")).json()
    flat = json.dumps(cw)
    assert "4XXError" in flat and "Count" in flat and "AllowedRequests" in flat


def test_metrics_without_logs_count_what_metrics_with_logs_count(tmp_path: Path,
                                                                 clock: FrozenClock) -> None:
    """Without log lines the request path updates the metrics itself, from the exchange
    rather than a capture: the same requests must give the same metrics either way."""
    from tests.waf.webacl.util import byte_match, rule, web_acl

    acl = web_acl(rule("no-evil", byte_match({"UriPath": {}}, "evil"), priority=1),
                  rule("count-two", byte_match({"UriPath": {}}, "/2"), "Count", priority=2))
    for d in ("quiet", "logged"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "webacl.json").write_text(json.dumps(acl))
    waf = {"webacl": {"file": "webacl.json"}}
    apps = [app_for(tmp_path / "quiet", clock, logging={"enabled": False}, **waf),
            app_for(tmp_path / "logged", clock, **waf)]
    texts = []
    for app in apps:
        for path in ("/prod/pets/1", "/prod/pets/evil", "/prod/nope", "/prod/pets/2"):
            asyncio.run(call(app, "GET", path))
        writer = app.gateway.ctx.resources.get("log_writer")
        if writer is not None:
            writer.flush()   # the writer thread updates the metrics with logs on
        texts.append(asyncio.run(call(app, "GET", "/metrics")).body.decode())
    # integration latencies are measured, not read from the frozen clock: counts only
    quiet, logged = ([line for line in t.splitlines() if not line.startswith("#")
                      and ("duration_seconds" not in line or "_count" in line)]
                     for t in texts)
    assert quiet == logged
    assert any("no-evil" in line and "BLOCK" in line for line in quiet)
    assert any("count-two" in line and "COUNT" in line for line in quiet)


@pytest.mark.parametrize("c_part", [False, True])
def test_metrics_only_reads_never_show_a_held_back_count(
        tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch,
        c_part: bool) -> None:
    """Without log lines the Python path holds observations back and folds them in batches
    of ``HELD``: /metrics, the CloudWatch view and ``fold()`` must count every request at any
    point, below a batch, at a batch and past one, and what is held stays bounded. The C part
    counts the usual request at once and holds nothing."""
    from bastion.observe import native
    from bastion.observe.capture import HELD

    if c_part and native.Lines is None and not os.environ.get("CI"):
        pytest.skip("built without the C part")   # CI builds it: there this fails
    if not c_part:
        monkeypatch.setenv("BASTION_NATIVE_LOGS", "0")
    app = app_for(tmp_path, clock, logging={"enabled": False})
    metrics: GatewayMetrics = app.gateway.ctx.resources["metrics"]
    renderer = next(s for s, _ in app.gateway.chain._logging if s.name == "observe").renderer
    sent = missed = 0
    for n in (3, HELD - 3 - 1, 1, 5):   # below a batch, one short, exactly one, past one
        for i in range(n):
            asyncio.run(call(app, "GET", "/prod/nope" if i % 4 == 0 else f"/prod/pets/{i}"))
        sent += n
        missed += (n + 3) // 4
        assert len(renderer._held) < HELD and (not c_part or not renderer._held)
        prom = asyncio.run(call(app, "GET", "/metrics")).body.decode()
        counted = sum(float(line.rsplit(" ", 1)[1]) for line in prom.splitlines()
                      if line.startswith("bastion_http_requests_total{"))
        assert counted == sent
        cloudwatch = asyncio.run(call(app, "GET", "/_bastion/metrics")).json()["AWS/ApiGateway"]
        assert (cloudwatch["Count"], cloudwatch["4XXError"]) == (sent, missed)
    for _ in range(HELD + 10):   # a whole batch is taken in by the request path itself
        asyncio.run(call(app, "GET", "/prod/pets/1"))
    assert len(renderer._held) == (0 if c_part else 10)
    metrics.fold()
    assert not renderer._held
    assert sum(v for _, v in metrics.requests.items()) == sent + HELD + 10


def test_audit_trail_records_the_configuration_load(tmp_path: Path,
                                                    clock: FrozenClock) -> None:
    app = app_for(tmp_path, clock, audit={"dir": "audit", "key_dir": "keys"})
    asyncio.run(app.gateway.close())  # delivers the log file and a final digest
    files = list((tmp_path / "audit").rglob("*.json.gz"))
    assert files
    public = load_public_key((tmp_path / "keys" / "audit-public.pem").read_bytes())
    report = verify_audit(tmp_path / "audit", public, start=clock.time() - 3600,
                          end=clock.time() + 1)
    assert report.ok, report


def test_records_rendered_by_the_writer_thread_keep_ids_values_and_redactions(
        tmp_path: Path, clock: FrozenClock) -> None:
    """The LOGGING phase only captures; the writer thread renders (with per-header caches):
    every record must still carry its own request id, header values and redactions."""
    app = app_for(tmp_path, clock)
    replies = []
    for i in range(40):
        headers = [("Authorization", f"Bearer token-{i}"), ("X-Trace", str(i % 3)),
                   ("User-Agent", "test/1")]
        replies.append(asyncio.run(call(app, "GET", f"/prod/pets/{i}", headers=headers,
                                        query=f"X-Amz-Signature=sig{i}&n={i}")))
    asyncio.run(app.gateway.close())
    waf = records(tmp_path, "waf")
    access = records(tmp_path, "access")
    assert len(waf) == len(access) == 40
    text = json.dumps(waf) + json.dumps(access)
    for i, (rec, acc, reply) in enumerate(zip(waf, access, replies, strict=True)):
        SCHEMA.validate(rec)
        rid = reply.header("x-amzn-RequestId")
        assert rec["httpRequest"]["requestId"] == acc["requestId"] == rid
        assert rec["httpRequest"]["uri"] == f"/prod/pets/{i}"
        assert rec["httpRequest"]["args"] == f"X-Amz-Signature=REDACTED&n={i}"
        hdrs = {h["name"]: h["value"] for h in rec["httpRequest"]["headers"]}
        assert hdrs["Authorization"] == "REDACTED" and hdrs["X-Trace"] == str(i % 3)
        assert f"token-{i}" not in text and f"sig{i}&" not in text
    assert app.gateway.ctx.resources["log_writer"].stats().dropped == 0


def _requests_counted(app: BastionApp) -> float:
    metrics: GatewayMetrics = app.gateway.ctx.resources["metrics"]
    metrics.fold()   # what a read of /metrics does first: observations held for a batch
    return sum(v for _, v in metrics.requests.items())


def test_metrics_count_every_request_rendered_or_dropped(tmp_path: Path,
                                                         clock: FrozenClock) -> None:
    """With a log writer the metrics are updated in its thread, batch by batch; a request
    whose capture the writer refuses (full or closed queue) is counted on the request path."""
    app = app_for(tmp_path, clock)
    writer = app.gateway.ctx.resources["log_writer"]
    for path in ("/prod/pets/1", "/prod/pets/2", "/prod/nope"):
        asyncio.run(call(app, "GET", path))
    writer.flush()
    assert _requests_counted(app) == 3
    writer.close()               # from now on every capture is refused
    asyncio.run(call(app, "GET", "/prod/pets/3"))
    assert _requests_counted(app) == 4
    assert writer.stats().dropped_by_kind == {"access": 1, "waf": 1}
    text = asyncio.run(call(app, "GET", "/metrics")).body.decode()
    assert 'bastion_http_requests_total{route="/pets/{id}",method="GET",code="2xx"' in text
    asyncio.run(app.gateway.close())


@pytest.mark.parametrize(("level", "ok_has_trace", "refused_has_trace"), [
    ("off", False, False), ("errors", False, True), ("info", None, True)])
def test_decision_trace_levels(tmp_path: Path, clock: FrozenClock, level: str,
                               ok_has_trace: bool | None, refused_has_trace: bool) -> None:
    app = app_for(tmp_path, clock, logging={"trace": level})
    asyncio.run(call(app, "GET", "/prod/pets/7"))
    asyncio.run(call(app, "GET", "/prod/nope"))
    asyncio.run(app.gateway.close())
    ok, refused = records(tmp_path, "waf")
    if ok_has_trace is not None:  # (a plain success records no trace events to show)
        assert bool(ok["bastion"]["trace"]) is ok_has_trace
    assert bool(refused["bastion"]["trace"]) is refused_has_trace
    if refused_has_trace:
        assert {"stage": "route", "event": "interrupted"} in refused["bastion"]["trace"]


def test_access_log_variables_for_the_waf_latencies_account_and_errors(
        tmp_path: Path, clock: FrozenClock) -> None:
    from tests.waf.webacl.util import byte_match, rule, web_acl

    template = ('{"id":"$context.requestId","waf":"$context.wafResponseCode",'
                '"acl":"$context.webaclArn","wafms":"$context.waf.latency",'
                '"intms":"$context.integration.latency","authms":"$context.authorizer.latency",'
                '"account":"$context.accountId","prefix":"$context.domainPrefix",'
                '"err":"$context.error.messageString","key":"$context.identity.apiKey"}')
    for d, waf in (("acl", {"webacl": {"file": "webacl.json"}}), ("none", {})):
        (tmp_path / d).mkdir()
        (tmp_path / d / "webacl.json").write_text(json.dumps(web_acl(
            rule("no-evil", byte_match({"UriPath": {}}, "evil"), priority=1))))
        app = app_for(tmp_path / d, clock, logging={"access_format": template}, **waf)
        host = [("Host", "petstore.execute-api.us-east-1.amazonaws.com"),
                ("x-api-key", "KeyValue0123456789abcdef")]
        asyncio.run(call(app, "GET", "/prod/pets/1", headers=host))
        asyncio.run(call(app, "GET", "/prod/pets/evil", headers=host))
        asyncio.run(app.gateway.close())
        ok, bad = records(tmp_path / d, "access")
        assert ok["account"] == bad["account"] == "123456789012"
        assert ok["prefix"] == "petstore"
        assert ok["key"] == bad["key"] == "-"   # an API key never reaches a log
        assert ok["authms"] == "-"               # no authorizer on the route
        assert ok["intms"].isdigit() and bad["intms"] == "0"
        if waf:
            assert (ok["waf"], bad["waf"]) == ("WAF_ALLOW", "WAF_BLOCK")
            assert ok["acl"] == "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/bastion"
            assert ok["wafms"].isdigit()
            assert bad["err"] == '"Forbidden"'    # error.message, quoted
        else:
            assert ok["waf"] == ok["acl"] == ok["wafms"] == "-"
        assert ok["err"] == "-"


@pytest.mark.parametrize(("logging_cfg", "expected"), [
    ({}, "conf/data/logs"), ({"dir": "elsewhere"}, "conf/elsewhere")])
def test_logs_land_where_configured_when_the_config_path_is_relative(
        tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch,
        logging_cfg: dict[str, str], expected: str) -> None:
    """``bastion serve -c conf/bastion.yaml`` once wrote the logs under conf/conf/data/logs: the
    config's directory was applied to ``log_dir`` twice. ``logging.dir`` is relative to the
    config file, the default is ``<log_dir>/logs``."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "conf").mkdir()
    api = {"openapi": "3.0.1", "info": {"title": "t", "version": "1"}, "paths": {
        "/pets/{id}": {"get": {"x-amazon-apigateway-integration": {
            "type": "aws_proxy", "uri": "tests.gateway.handlers:echo"}}}}}
    (tmp_path / "conf" / "api.yaml").write_text(yaml.safe_dump(api))
    config = {"api": {"openapi": "api.yaml", "stage": "prod"}, "log_dir": "data",
              "logging": logging_cfg}
    app = BastionApp(build_gateway(settings_from_data(config, Path("conf/bastion.yaml")),
                                   clock=clock, layers=builtin_layers()))
    asyncio.run(call(app, "GET", "/prod/pets/1"))
    asyncio.run(app.gateway.close())
    assert list((tmp_path / expected / "waf").rglob("*.jsonl"))
    assert not (tmp_path / "conf" / "conf").exists()
