"""``bastion sign`` and ``bastion curl`` against a real loopback server running the verifier."""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from bastion.auth.secret import Secret
from bastion.auth.sigv4 import ResolvedKey, SigV4Verifier, StaticKeys
from bastion.auth.sigv4.cli import add_parsers
from bastion.clock import SystemClock

AK, SK = "AKIACLITEST000000001", "cli-secret-key"
VERIFIER = SigV4Verifier(StaticKeys([ResolvedKey(AK, Secret(SK), principal="cli-user")]),
                         SystemClock())


class _Handler(BaseHTTPRequestHandler):
    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        parts = urlsplit(self.path)
        result = VERIFIER.verify(self.command, parts.path, parts.query,
                                 list(self.headers.items()), body)
        payload: dict[str, object]
        if result.ok:
            status, payload = 200, {"principal": result.principal, "body": body.decode()}
        else:
            status, payload = result.status, dict(result.body())
        data = json.dumps(payload).encode()
        self.send_response(status)
        if not result.ok:
            self.send_header("x-amzn-ErrorType", result.error_type)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _handle

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="bastion")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return int(args.handler(args))


CREDS = ["--access-key", AK, "--secret-key", SK]


def test_curl_get(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("curl", *CREDS, f"{server}/prod/pets/a%20b?type=dog") == 0
    assert json.loads(capsys.readouterr().out)["principal"] == "cli-user"


def test_curl_post_with_header_and_body(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = run("curl", *CREDS, "-X", "POST", "-H", "Content-Type: application/json",
               "-d", '{"name": "rex"}', f"{server}/prod/pets")
    assert code == 0
    assert json.loads(capsys.readouterr().out)["body"] == '{"name": "rex"}'


def test_curl_presigned(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("curl", *CREDS, "--presign", f"{server}/prod/pets") == 0


def test_curl_wrong_secret_shows_aws_error(server: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code = run("curl", "-i", "--access-key", AK, "--secret-key", "wrong", f"{server}/prod/pets")
    out = capsys.readouterr().out
    assert code == 1
    assert "HTTP 403" in out and "InvalidSignatureException" in out
    assert "The Canonical String for this request should have been" in out


def test_sign_prints_headers(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("sign", *CREDS, "-v", "--session-token", "tok",
               "https://api.example.com/prod/pets") == 0
    captured = capsys.readouterr()
    assert "Authorization: AWS4-HMAC-SHA256 Credential=AKIACLITEST000000001/" in captured.out
    assert "X-Amz-Security-Token: tok" in captured.out
    assert SK not in captured.out + captured.err
    assert "# canonical request" in captured.err


def test_sign_presigned_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("sign", *CREDS, "--presign", "--expires", "60",
               "https://api.example.com/prod/pets") == 0
    url = capsys.readouterr().out.strip()
    assert "X-Amz-Expires=60" in url and "X-Amz-Signature=" in url


@pytest.mark.parametrize("argv", [
    ["sign", "https://api.example.com/"],  # no credentials (env cleared below)
    ["sign", *CREDS, "ftp://x/"],
    ["sign", *CREDS, "-H", "no-colon", "https://api.example.com/"],
    ["sign", *CREDS, "--presign", "--expires", "0", "https://api.example.com/"],
    ["curl", *CREDS, "-d", "@/nonexistent/file", "https://api.example.com/"],
])
def test_usage_errors(argv: list[str], monkeypatch: pytest.MonkeyPatch,
                      capsys: pytest.CaptureFixture[str]) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    assert run(*argv) == 2
    assert "error:" in capsys.readouterr().err


def test_curl_connection_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("curl", *CREDS, "--timeout", "2", "http://127.0.0.1:9/prod") == 2
