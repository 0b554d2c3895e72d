"""``bastion policy simulate`` through its argparse front: output and exit codes 0/1/2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bastion.auth.iam.cli import main

from .helpers import ACCOUNT, OTHER, RES, USER

POLICY = {"Version": "2012-10-17", "Statement": [
    {"Sid": "ReadPets", "Effect": "Allow", "Action": "execute-api:Invoke",
     "Resource": f"arn:aws:execute-api:us-east-1:{ACCOUNT}:abc123/*/GET/*"},
    {"Sid": "AdminPost", "Effect": "Allow", "Action": "execute-api:Invoke",
     "Resource": f"arn:aws:execute-api:us-east-1:{ACCOUNT}:abc123/*/POST/*",
     "Condition": {"StringEquals": {"aws:PrincipalTag/role": "admin"}}},
]}
RESOURCE_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "execute-api:Invoke",
     "Resource": "execute-api:/*"},
    {"Sid": "OfficeOnly", "Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke",
     "Resource": "execute-api:/*/POST/*",
     "Condition": {"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}}},
]}
POST = RES.replace("/GET/", "/POST/")


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    out = {}
    for name, doc in [("p.json", POLICY), ("r.json", RESOURCE_POLICY)]:
        (tmp_path / name).write_text(json.dumps(doc))
        out[name] = str(tmp_path / name)
    (tmp_path / "bad.json").write_text('{"Statement": {"Effect": "Permit", "Action": "*", '
                                       '"Resource": "*"}}')
    out["bad.json"] = str(tmp_path / "bad.json")
    return out


def sim(*argv: str) -> int:
    return main(["policy", "simulate", *argv])


def test_allow_exit_0(files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code = sim("--policy", files["p.json"], "--action", "execute-api:Invoke", "--resource", RES,
               "--principal", USER)
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("ALLOW: allowed by Sid 'ReadPets'")


def test_implicit_deny_exit_1_with_near_miss(files: dict[str, str],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code = sim("--policy", files["p.json"], "--action", "execute-api:Invoke", "--resource",
               POST, "--principal", USER, "--context", "aws:PrincipalTag/role=viewer")
    out = capsys.readouterr().out
    assert code == 1
    assert out.startswith("IMPLICIT_DENY")
    assert "near miss: Sid 'AdminPost'" in out
    assert "StringEquals aws:PrincipalTag/role: request value 'viewer'" in out
    assert f"User: {USER} is not authorized to perform: execute-api:Invoke on resource: " in out
    assert "********9012" in out


def test_context_makes_it_allow_and_resource_policy_can_deny(
        files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--policy", files["p.json"], "--resource-policy", files["r.json"], "--action",
            "execute-api:Invoke", "--resource", POST, "--principal", USER,
            "--context", "aws:PrincipalTag/role=admin"]
    assert sim(*base, "--context", "aws:SourceIp=192.0.2.10") == 0
    capsys.readouterr()
    assert sim(*base, "--context", "aws:SourceIp=203.0.113.1") == 1
    out = capsys.readouterr().out
    assert out.startswith("EXPLICIT_DENY: explicitly denied by Sid 'OfficeOnly'")
    assert "with an explicit deny" in out


def test_json_output_and_cross_account(files: dict[str, str],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code = sim("--policy", files["p.json"], "--resource-policy", files["r.json"], "--action",
               "execute-api:Invoke", "--resource", RES, "--principal",
               f"arn:aws:iam::{OTHER}:user/mallory", "--json", "--no-mask")
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert code == 1
    assert data["decision"] == "IMPLICIT_DENY" and data["same_account"] is False
    assert RES in data["message"]


def test_multi_valued_and_empty_context(files: dict[str, str], tmp_path: Path) -> None:
    policy = {"Version": "2012-10-17", "Statement": {
        "Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*",
        "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]},
                      "StringEquals": {"test:Empty": ""}}}}
    path = tmp_path / "m.json"
    path.write_text(json.dumps(policy))
    args = ["--policy", str(path), "--action", "execute-api:Invoke", "--resource", RES,
            "--principal", USER, "--context", "test:Empty="]
    assert sim(*args, "--context", "aws:TagKeys=a", "--context", "aws:TagKeys=b") == 0
    assert sim(*args, "--context", "aws:TagKeys=a", "--context", "aws:TagKeys=c") == 1


def test_anonymous_principal(files: dict[str, str]) -> None:
    assert sim("--resource-policy", files["r.json"], "--action", "execute-api:Invoke",
               "--resource", RES) == 1


def test_policy_error_exit_2(files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code = sim("--policy", files["bad.json"], "--action", "execute-api:Invoke", "--resource", RES)
    err = capsys.readouterr().err
    assert code == 2
    assert "Statement[0]" in err and "Effect must be" in err
    assert "Traceback" not in err


def test_missing_file_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = sim("--policy", str(tmp_path / "nope.json"), "--action", "x:y", "--resource", RES)
    assert code == 2
    assert "cannot read policy" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["--action", "execute-api:Invoke"],
    ["--action", "execute-api:Invoke", "--resource", RES, "--context", "novalue"],
    ["--action", "execute-api:Invoke", "--resource", "not-an-arn"],
])
def test_usage_errors_exit_2(argv: list[str]) -> None:
    try:
        code = sim(*argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    assert code == 2
