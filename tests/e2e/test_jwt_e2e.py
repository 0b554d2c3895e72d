"""A local OIDC issuer (keys made here, JWKS on loopback) driving a running Bastion,
including signing-key rotation."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from tests.auth.oidc_issuer import Issuer, serve
from tests.e2e.conftest import start, stop
from tests.helpers import free_port

pytestmark = pytest.mark.e2e


def test_jwt_authorizer_end_to_end_with_key_rotation(tmp_path: Path) -> None:
    issuer = Issuer()
    issuer.add_rsa("k1")
    with serve(issuer):
        api = {"openapi": "3.0.1", "info": {"title": "t", "version": "1"},
               "components": {"securitySchemes": {"Jwt": {
                   "type": "apiKey", "name": "Authorization", "in": "header",
                   "x-amazon-apigateway-authorizer": {
                       "type": "jwt", "identitySource": "$request.header.Authorization",
                       "jwtConfiguration": {"issuer": issuer.url, "audience": ["api-1"]}}}}},
               "paths": {"/me": {"get": {"security": [{"Jwt": []}],
                                         "x-amazon-apigateway-integration": {
                                             "type": "aws_proxy",
                                             "uri": "tests.gateway.handlers:echo"}}}}}
        (tmp_path / "api.yaml").write_text(yaml.safe_dump(api))
        cfg = tmp_path / "bastion.yaml"
        # min_refresh_s bounds how often an unknown kid may trigger a JWKS refetch (60 s by
        # default); 0 here so the rotation below needs no waiting.
        cfg.write_text(yaml.safe_dump({"api": {"openapi": "api.yaml", "kind": "http",
                                               "stage": "$default"},
                                       "auth": {"authorizers": {"Jwt": {"min_refresh_s": 0}}}}))
        port = free_port()
        server = start(["serve", "--config", str(cfg), "--port", str(port)], port)
        try:
            now = int(time.time())

            def token(kid: str, **over: object) -> str:
                claims = {"sub": "alice", "aud": "api-1", "iss": issuer.url,
                          "iat": now, "exp": now + 300, "scope": "pets/read", **over}
                return issuer.sign(claims, kid)

            status, _, body = server.request("GET", "/me",
                                             headers={"Authorization": f"Bearer {token('k1')}"})
            assert status == 200, body
            import json

            jwt_ctx = json.loads(body)["event"]["requestContext"]["authorizer"]["jwt"]
            assert jwt_ctx["claims"]["sub"] == "alice"
            status, headers, body = server.request(
                "GET", "/me", headers={"Authorization": f"Bearer {token('k1', aud='x')}"})
            assert (status, body) == (401, b'{"message":"Unauthorized"}')
            assert "invalid_token" in headers.get("www-authenticate", "")
            # rotation: the issuer starts signing with a new key published in its JWKS
            issuer.add_rsa("k2")
            status, _, body = server.request("GET", "/me",
                                             headers={"Authorization": f"Bearer {token('k2')}"})
            assert status == 200, body
            # a key the issuer never published stays refused
            issuer.add_rsa("rogue", publish=False)
            status, _, _ = server.request("GET", "/me",
                                          headers={"Authorization": f"Bearer {token('rogue')}"})
            assert status == 401
            assert issuer.hits >= 2  # fetched at start, refetched for the rotated kid
        finally:
            stop(server)
