"""Bad configuration fails at load with file, line and key, and never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bastion.cli import main
from bastion.config import load_settings
from bastion.errors import ConfigError, ConfigErrors
from bastion.gateway.gateway import load_gateway

API = """openapi: "3.0.1"
info: {title: t, version: "1"}
paths:
  /pets:
    get:
      x-amazon-apigateway-integration:
        type: aws_proxy
        uri: tests.gateway.handlers:echo
"""


def write(tmp_path: Path, config: str, api: str = API) -> Path:
    (tmp_path / "api.yaml").write_text(api)
    path = tmp_path / "bastion.yaml"
    path.write_text(config)
    return path


def errors_of(path: Path) -> list[ConfigError]:
    with pytest.raises(ConfigError) as info:
        load_gateway(path)
    exc = info.value
    return exc.errors if isinstance(exc, ConfigErrors) else [exc]


@pytest.mark.parametrize(("config", "line", "key", "message"), [
    ("api:\n  openapi: api.yaml\n  stagee: prod\n", 3, "api.stagee", "unknown key"),
    ("api:\n  openapi: api.yaml\nserver:\n  port: eighty\n", 4, "server.port",
     "must be an integer"),
    ("api:\n  openapi: api.yaml\nserver:\n  port: 70000\n", 4, "server.port", "0-65535"),
    ("api:\n  openapi: missing.yaml\n", 2, "api.openapi", "file not found"),
    ("api:\n  openapi: api.yaml\n  kind: graphql\n", 3, "api.kind", "must be one of rest, http"),
    ("api:\n  openapi: api.yaml\n  account_id: '12'\n", 3, "api.account_id", "12 digits"),
    ("api:\n  stage: prod\n", 1, "api.openapi", "is required"),
    ("api:\n  openapi: api.yaml\nfunctions:\n  F:\n    handler: not a ref\n", 5,
     "functions.F.handler", "package.module:function"),
    ("api:\n  openapi: api.yaml\nstate: mysql://x\n", 3, "state", "redis://"),
    ("api:\n  openapi: api.yaml\nlimits:\n  max_body_bytes: -1\n", 4, "limits.max_body_bytes",
     "greater than 0"),
    ("api:\n  openapi: api.yaml\n  openapi: again.yaml\n", 3, "openapi", "duplicate key"),
])
def test_bad_settings_name_file_line_and_key(tmp_path: Path, config: str, line: int, key: str,
                                             message: str) -> None:
    path = write(tmp_path, config)
    errors = errors_of(path)
    assert any(e.line == line and e.key == key and message in e.message and
               e.file == str(path) for e in errors), [e.render() for e in errors]


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, "api:\n  openapi: api.yaml\n  bogus: 1\nserver:\n  port: x\nnope: 1\n")
    errors = errors_of(path)
    assert [e.key for e in errors] == ["api.bogus", "server.port", "nope"]


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "api:\n  openapi: api.yaml\n  stage: [unclosed\n")
    [err] = errors_of(path)
    assert err.file == str(path) and err.line is not None and "invalid YAML" in err.message


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.yaml")


@pytest.mark.parametrize(("api", "key", "message"), [
    (API.replace("tests.gateway.handlers:echo", "tests.gateway.handlers:nothing"),
     "paths./pets.get.x-amazon-apigateway-integration.uri", "no callable 'nothing'"),
    (API.replace("tests.gateway.handlers:echo", "no_such_module:f"),
     "paths./pets.get.x-amazon-apigateway-integration.uri", "cannot import"),
    (API.replace("aws_proxy", "aws"),   # Lambda with mapping templates: VTL, not run here
     "paths./pets.get.x-amazon-apigateway-integration.type", "not supported"),
    (API.replace(
        "tests.gateway.handlers:echo",
        "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
        "arn:aws:lambda:us-east-1:123456789012:function:Missing/invocations"),
     "paths./pets.get.x-amazon-apigateway-integration.uri",
     "Lambda function 'Missing' has no handler"),
    (API.replace("    get:", "    fetch:"), "paths./pets.fetch", "unknown HTTP method"),
    (API + "    post:\n      security: [{nope: []}]\n      x-amazon-apigateway-integration:\n"
     "        type: aws_proxy\n        uri: tests.gateway.handlers:echo\n",
     "paths./pets.post.security", "undefined scheme 'nope'"),
    ("swagger: '1.2'\npaths: {}\n", "swagger", "unsupported Swagger version"),
])
def test_bad_references_in_the_openapi(tmp_path: Path, api: str, key: str,
                                       message: str) -> None:
    path = write(tmp_path, "api:\n  openapi: api.yaml\n", api)
    errors = errors_of(path)
    assert any(e.key == key and message in e.message and e.file == str(tmp_path / "api.yaml")
               for e in errors), [e.render() for e in errors]


def test_validate_prints_every_problem_and_exits_2(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "api:\n  openapi: api.yaml\n  bogus: 1\nserver:\n  port: x\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"error: {path}:3: api.bogus: unknown key" in err
    assert f"error: {path}:5: server.port: must be an integer" in err
    assert "2 problems found" in err
    assert "Traceback" not in err


def test_validate_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "api:\n  openapi: api.yaml\n")
    assert main(["validate", str(path)]) == 0
    assert "OK (1 routes" in capsys.readouterr().out


def test_serve_with_a_bad_config_exits_2_without_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "api:\n  openapi: api.yaml\nserver:\n  port: x\n")
    proc = subprocess.run([sys.executable, "-m", "bastion.cli", "serve", "--config", str(path)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "server.port: must be an integer" in proc.stderr
    assert "Traceback" not in proc.stderr
