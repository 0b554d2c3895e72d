"""Gateway and edge configurations for the edge tests, written into a temporary directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ACCOUNT = "123456789012"
H = "tests.edge.handlers:echo"

SIGV4 = {"type": "apiKey", "name": "Authorization", "in": "header",
         "x-amazon-apigateway-authtype": "awsSigv4"}


def _op(security: list[dict[str, list[str]]] | None = None, **extra: Any) -> dict[str, Any]:
    op: dict[str, Any] = {"x-amazon-apigateway-integration": {
        "type": "aws_proxy", "httpMethod": "POST", "uri": H}}
    if security is not None:
        op["security"] = security
    op.update(extra)
    return op


def origin_api(security: list[dict[str, list[str]]] | None, *,
               schemes: dict[str, Any] | None = None,
               extra_doc: dict[str, Any] | None = None,
               **op_extra: Any) -> dict[str, Any]:
    paths = {"/echo": {"get": _op(security, **op_extra), "post": _op(security, **op_extra)},
             "/echo/{item}": {"get": _op(security, **op_extra)}}
    doc: dict[str, Any] = {"openapi": "3.0.1", "info": {"title": "origin", "version": "1"},
                           "paths": paths,
                           "components": {"securitySchemes": schemes or {}}}
    doc.update(extra_doc or {})
    return doc


def edge_api(origin_port: int, *, scheme: str = "http", prefix: str = "/prod") -> dict[str, Any]:
    integration = {"type": "http_proxy", "httpMethod": "ANY",
                   "uri": f"{scheme}://127.0.0.1:{origin_port}{prefix}/{{proxy}}",
                   "requestParameters": {
                       "integration.request.path.proxy": "method.request.path.proxy"}}
    return {"openapi": "3.0.1", "info": {"title": "edge", "version": "1"},
            "paths": {"/{proxy+}": {"x-amazon-apigateway-any-method": {
                "parameters": [{"name": "proxy", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "x-amazon-apigateway-integration": integration}}}}


ROLE = {"name": "edge-signer", "account": ACCOUNT, "max_session_seconds": 3600,
        "policies": [{"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "execute-api:Invoke",
            "Resource": f"arn:aws:execute-api:us-east-1:{ACCOUNT}:*"}]}]}


def write(dirpath: Path, name: str, doc: dict[str, Any], api: dict[str, Any],
          **sections: Any) -> Path:
    dirpath.mkdir(parents=True, exist_ok=True)
    (dirpath / f"{name}-api.yaml").write_text(yaml.safe_dump(api))
    cfg = {"api": {"openapi": f"{name}-api.yaml", "kind": "rest", "stage": "prod",
                   "region": "us-east-1", "account_id": ACCOUNT, "api_id": name},
           **doc, **sections}
    path = dirpath / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def iam_gateway(dirpath: Path, *, token_env: str = "EDGE_TOKEN",
                **sections: Any) -> Path:
    """The origin gateway of pattern (a): AWS_IAM routes, and a credential endpoint."""
    dirpath.mkdir(parents=True, exist_ok=True)
    (dirpath / "credentials.yaml").write_text(yaml.safe_dump({"roles": [ROLE]}))
    return write(dirpath, "gateway", {"server": {"trust_forwarded_for": True}},
                 origin_api([{"sigv4": []}], schemes={"sigv4": SIGV4}),
                 auth={"credentials": "credentials.yaml"},
                 credentials={"roles": ["edge-signer"], "bootstrap_token_env": token_env},
                 **sections)


def edge(dirpath: Path, origin_port: int, edge_section: dict[str, Any], *,
         scheme: str = "http", prefix: str = "/prod") -> Path:
    return write(dirpath, "edge", {}, edge_api(origin_port, scheme=scheme, prefix=prefix),
                 edge=edge_section)


def sts_credentials(origin_port: int, *, scheme: str = "http", **extra: object
                    ) -> dict[str, Any]:
    return {"endpoint": f"{scheme}://127.0.0.1:{origin_port}/_bastion/sts/assume-role",
            "role": "edge-signer", "bootstrap_token_env": "EDGE_TOKEN", **extra}
