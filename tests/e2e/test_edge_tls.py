"""TLS termination and mutual TLS on `bastion serve`, with certificates made in the test; and
an edge that reaches its gateway over mTLS, fetching credentials on its client certificate."""

from __future__ import annotations

import http.client
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, Server, start, stop
from tests.edge import configs
from tests.edge.certs import Pki, make_pki
from tests.helpers import free_port

pytestmark = pytest.mark.e2e

ENV = {"PYTHONPATH": f"{ROOT / 'src'}:{ROOT}", "EDGE_TOKEN": "unused-bootstrap-token-0001"}


def client_context(pki: Pki, *, cert: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.ca))
    if cert is not None:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    return ctx


def https(port: int, ctx: ssl.SSLContext, method: str = "GET", path: str = "/_bastion/health",
          body: bytes | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=ctx)
    try:
        conn.request(method, path, body=body)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@contextmanager
def serve_tls(config: Path, port: int, pki: Pki, *, mtls: bool) -> Iterator[Server]:
    args = [sys.executable, "-m", "bastion.cli", "serve", "--config", str(config), "--port",
            str(port), "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key)]
    if mtls:
        args += ["--client-ca", str(pki.ca)]
    fd, name = tempfile.mkstemp(prefix="bastion-tls-", suffix=".log")
    with os.fdopen(fd, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                env={**os.environ, **ENV})
    server = Server(proc, port, Path(name))
    try:
        ctx = client_context(pki, cert=(pki.client_cert, pki.client_key) if mtls else None)
        deadline = time.monotonic() + 20
        while True:  # bounded readiness poll
            if proc.poll() is not None:
                raise RuntimeError(server.output())
            try:
                if https(port, ctx)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("TLS server did not become ready\n" + server.output())
            time.sleep(0.05)
        yield server
    finally:
        stop(server)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_tls_termination(tmp_path: Path, pki: Pki) -> None:
    cfg = configs.iam_gateway(tmp_path / "gw")
    port = free_port()
    with serve_tls(cfg, port, pki, mtls=False):
        status, body = https(port, client_context(pki))
        assert status == 200 and json.loads(body)["status"] == "ok"
        status, body = https(port, client_context(pki), "POST", "/prod/echo", b"{}")
        assert status == 403 and body == b'{"message":"Missing Authentication Token"}'
        with pytest.raises(ssl.SSLCertVerificationError):  # a client that does not trust it
            https(port, ssl.create_default_context())
        plain = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        with pytest.raises((http.client.HTTPException, OSError)):
            plain.request("GET", "/_bastion/health")
            plain.getresponse().read()
        plain.close()


def test_mtls_requires_a_client_certificate_from_the_ca(tmp_path: Path, pki: Pki) -> None:
    cfg = configs.iam_gateway(tmp_path / "gw")
    port = free_port()
    with serve_tls(cfg, port, pki, mtls=True):
        good = client_context(pki, cert=(pki.client_cert, pki.client_key))
        assert https(port, good)[0] == 200
        for ctx in (client_context(pki),
                    client_context(pki, cert=(pki.rogue_cert, pki.rogue_key))):
            with pytest.raises((ssl.SSLError, OSError, http.client.HTTPException)):
                https(port, ctx)


def test_edge_reaches_the_gateway_over_mtls(tmp_path: Path, pki: Pki) -> None:
    """No bootstrap token anywhere: the edge's client certificate authenticates it to the
    credential endpoint, and its requests go to the gateway over the same mTLS."""
    gw_dir = tmp_path / "gw"
    cfg = configs.iam_gateway(gw_dir)
    import yaml
    doc = yaml.safe_load(cfg.read_text())
    doc["credentials"] = {"roles": ["edge-signer"], "mtls": True}
    cfg.write_text(yaml.safe_dump(doc))
    gw_port, edge_port = free_port(), free_port()
    with serve_tls(cfg, gw_port, pki, mtls=True):
        creds = configs.sts_credentials(gw_port, scheme="https")
        del creds["bootstrap_token_env"]
        edge_cfg = configs.edge(tmp_path / "edge", gw_port, {
            "credentials": creds,
            "tls": {"ca_file": str(pki.ca), "cert_file": str(pki.client_cert),
                    "key_file": str(pki.client_key)}}, scheme="https")
        edge = start(["serve", "--config", str(edge_cfg), "--port", str(edge_port)],
                     edge_port, ENV)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", edge_port, timeout=10,
                                              source_address=("127.0.0.7", 0))
            conn.request("POST", "/prod/echo", body=b"over mtls")
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
            assert resp.status == 200, body
            seen = json.loads(body)
            assert seen["sourceIp"] == "127.0.0.7" and seen["body"] == "over mtls"
            assert seen["accessKey"].startswith("ASIA")
        finally:
            stop(edge)
        # a forwarded request does not get credentials on its proxy's certificate
        good = client_context(pki, cert=(pki.client_cert, pki.client_key))
        conn = http.client.HTTPSConnection("127.0.0.1", gw_port, timeout=10, context=good)
        conn.request("POST", "/_bastion/sts/assume-role", body=b"{}",
                     headers={"X-Forwarded-For": "203.0.113.50"})
        resp = conn.getresponse()
        assert resp.status == 403 and json.loads(resp.read())["Error"]["Code"] == "AccessDenied"
        conn.close()
        assert https(gw_port, good, "POST", "/_bastion/sts/assume-role", b"{}")[0] == 200
        # the same endpoint over TLS without a client certificate: the handshake fails
        with pytest.raises((ssl.SSLError, OSError, http.client.HTTPException)):
            https(gw_port, client_context(pki), "POST", "/_bastion/sts/assume-role", b"{}")
