from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from bastion.errors import ConfigError
from bastion.observe.accesslog import PRESETS, clf_time, compile_template

CTX: dict[str, Any] = {
    "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
    "extendedRequestId": "Ab12=",
    "identity.sourceIp": "203.0.113.9",
    "identity.caller": None,
    "identity.user": "alice",
    "requestTimeEpoch": 1_767_225_600_123,
    "httpMethod": "GET",
    "resourcePath": "/pets/{petId}",
    "protocol": "HTTP/1.1",
    "status": 200,
    "responseLength": 42,
    "authorizer": {"principalId": "user|a1", "claims": {"email": "a@example.com"}},
    "waf": {"status": 200, "latency": 0.4},
    "integrationLatency": 12,
}


def test_clf_preset_matches_api_gateway_shape() -> None:
    line = compile_template("CLF").format(CTX)
    assert line == ('203.0.113.9 - alice [01/Jan/2026:00:00:00 +0000] "GET /pets/{petId} '
                    'HTTP/1.1" 200 42 c6af9ac6-7b61-11e6-9a41-93e8deadbeef Ab12=')


def test_json_preset_is_valid_json_even_with_hostile_values() -> None:
    ctx = dict(CTX, **{"identity.user": 'evil"\n{"x":1}\\', "resourcePath": "/a\u2028b"})
    doc = json.loads(compile_template("JSON").format(ctx))
    assert doc["user"] == 'evil"\n{"x":1}\\'
    assert doc["status"] == "200" and doc["caller"] == "-"


def test_xml_and_csv_presets_parse() -> None:
    ctx = dict(CTX, **{"identity.user": "a<b>,\"c\""})
    root = ET.fromstring(compile_template("XML").format(ctx))
    assert root.get("id") == CTX["requestId"] and root.findtext("user") == 'a<b>,"c"'
    row = next(csv.reader(io.StringIO(compile_template("CSV").format(ctx))))
    assert row[2] == 'a<b>,"c"' and row[9] == CTX["requestId"] and len(row) == 11


def test_no_line_injection() -> None:
    for name in PRESETS:
        line = compile_template(name).format(dict(CTX, **{"identity.user": "x\r\ny"}))
        assert "\n" not in line and "\r" not in line


def test_custom_template_with_nested_authorizer_and_waf() -> None:
    f = compile_template('$context.requestId $context.authorizer.principalId '
                         '$context.authorizer.claims.email $context.waf.status '
                         '$context.integrationLatency $context.error.message')
    assert f.format(CTX) == f"{CTX['requestId']} user|a1 a@example.com 200 12 -"
    assert "authorizer.claims.email" in f.variables


@pytest.mark.parametrize("template, message", [
    ("$context.httpMethod", "must include $context.requestId"),
    ("$context.requestId $input.body", "only $context variables"),
    ("$context.requestId $context.nope", "unknown variable"),
    ("$context.requestId\n", "single line"),
])
def test_invalid_templates(template: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("$", r"\$")):
        compile_template(template)


def test_clf_time() -> None:
    assert clf_time(0) == "01/Jan/1970:00:00:00 +0000"
