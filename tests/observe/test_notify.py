"""Notifications reach a local webhook sink and a local SMTP sink within 5 s, with retries."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bastion.errors import ConfigError
from bastion.observe.alarms import Alarm, StateChange
from bastion.observe.notify import EmailSink, Notifier, SlackSink, WebhookSink, verify_webhook

SECRET = b"0123456789abcdef-webhook-secret"


class _Sink:
    def __init__(self, fail_first: int = 0, expected: int = 1) -> None:
        self.requests: list[tuple[dict[str, str], bytes, str]] = []
        self.event = threading.Event()
        self.fail_first = fail_first
        self.expected = expected


@pytest.fixture
def http_sink() -> Iterator[tuple[str, _Sink]]:
    sink = _Sink()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if sink.fail_first > 0:
                sink.fail_first -= 1
                self.send_response(503)
                self.end_headers()
                return
            sink.requests.append((dict(self.headers), body, self.path))
            self.send_response(204)
            self.end_headers()
            if len(sink.requests) >= sink.expected:
                sink.event.set()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", sink
    server.shutdown()
    server.server_close()
    t.join()


def _change(new: str = "ALARM") -> StateChange:
    alarm = Alarm(name="blocked-spike", metric_name="BlockedRequests", namespace="AWS/WAFV2",
                  threshold=5, comparison_operator="GreaterThanThreshold",
                  alarm_actions=("ops",), ok_actions=("ops",))
    return StateChange(alarm, "OK", new, "Threshold Crossed: test", 1_767_225_600.0, (9.0,))


def test_signed_webhook_and_slack_delivery(http_sink: tuple[str, _Sink]) -> None:
    url, sink = http_sink
    sink.fail_first = 2  # two 503s, then success: retries work
    sink.expected = 2
    n = Notifier({"ops": [WebhookSink(url + "/hook", SECRET), SlackSink(url + "/slack")]},
                 backoff=0.01)
    assert n.notify(_change()) == 2
    assert sink.event.wait(5)    # both sinks reached within 5 s
    n.close()
    by_path = {path: (headers, body) for headers, body, path in sink.requests}
    headers, body = by_path["/hook"]
    msg = json.loads(body)
    assert msg["AlarmName"] == "blocked-spike" and msg["NewStateValue"] == "ALARM"
    assert verify_webhook(SECRET, headers["X-Bastion-Timestamp"], body,
                          headers["X-Bastion-Signature"])
    assert not verify_webhook(SECRET, headers["X-Bastion-Timestamp"], body + b" ",
                              headers["X-Bastion-Signature"])
    assert "blocked-spike" in json.loads(by_path["/slack"][1])["text"]
    assert n.delivered == 2 and n.failed == 0


def test_failed_delivery_goes_to_dead_letter(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]      # closed again: connections are refused
    dead = tmp_path / "dead.jsonl"
    n = Notifier({"ops": [WebhookSink(f"http://127.0.0.1:{port}/", SECRET)]}, retries=2,
                 backoff=0.01, dead_letter=dead)
    n.notify(_change())
    n.close()
    assert n.failed == 1
    entry = json.loads(dead.read_text())
    assert entry["sink"] == "webhook" and entry["message"]["AlarmName"] == "blocked-spike"


def test_email_reaches_local_smtp_sink() -> None:
    aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")
    received: list[bytes] = []
    got = threading.Event()

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope.content)
            got.set()
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctl = aiosmtpd_controller.Controller(Handler(), hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        n = Notifier({"ops": [EmailSink("127.0.0.1", port, "bastion@localhost",
                                        ["oncall@localhost"])]})
        n.notify(_change())
        assert got.wait(5)
        n.close()
    finally:
        ctl.stop()
    mail = message_from_bytes(received[0])
    assert mail["Subject"] == 'ALARM: "blocked-spike" in local'
    assert json.loads(mail.get_payload())["NewStateValue"] == "ALARM"


def test_sink_config_checks() -> None:
    with pytest.raises(ConfigError):
        WebhookSink("ftp://example/", SECRET)
    with pytest.raises(ConfigError):
        WebhookSink("http://127.0.0.1/", b"short")
    with pytest.raises(ConfigError):
        EmailSink("127.0.0.1", 25, "a@b", [])
    assert "secret" not in repr(WebhookSink("http://127.0.0.1/", SECRET)).lower()
