"""Alarm notifications fanned out to topics: signed webhooks, Slack-style webhooks, SMTP email.

A ``Notifier`` maps topic names (an alarm's ``alarm_actions`` etc.) to sinks and delivers on one
background thread, so alarm evaluation never waits on the network. Each delivery is retried
``retries`` times with exponential backoff; what still fails is appended to an optional
dead-letter JSON-lines file and counted. Payloads are the CloudWatch alarm message
(``alarm_message``); the webhook sink signs ``<timestamp>.<body>`` with HMAC-SHA256 so receivers
can reject forged or replayed posts (headers ``X-Bastion-Timestamp`` and
``X-Bastion-Signature: sha256=<hex>``; check with ``verify_webhook``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import smtplib
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from bastion.errors import ConfigError
from bastion.observe.alarms import StateChange, alarm_message

__all__ = ["EmailSink", "Notifier", "Sink", "SlackSink", "WebhookSink", "verify_webhook"]


class Sink(Protocol):
    """Delivers one message; raises on failure (the notifier retries)."""

    name: str

    def send(self, message: Mapping[str, Any]) -> None: ...


def _check_url(url: str, key: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("webhook URL must be http(s)://host/...", key=key)
    return url


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A signed alarm is never re-sent to wherever a redirect points."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect())
_LOCAL_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def _post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> None:
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json", **headers})
    host = urlsplit(url).hostname or ""
    opener = _LOCAL_OPENER if host in ("127.0.0.1", "::1", "localhost") else _OPENER
    try:
        with opener.open(req, timeout=timeout) as resp:
            if not 200 <= resp.status < 300:
                raise OSError(f"webhook answered {resp.status}")
    except urllib.error.HTTPError as exc:
        exc.close()   # it holds the connection; do not leak it to the garbage collector
        raise OSError(f"webhook answered {exc.code}") from None


def sign_webhook(secret: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body,
                                hashlib.sha256).hexdigest()


def verify_webhook(secret: bytes, timestamp: str, body: bytes, signature: str, *,
                   now: float | None = None, tolerance: float = 300.0) -> bool:
    """Receiver side: constant-time check of the signature and the timestamp's freshness."""
    try:
        ts = float(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance:
        return False
    return hmac.compare_digest(sign_webhook(secret, timestamp, body), signature)


class WebhookSink:
    """POST the alarm JSON, HMAC-SHA256 signed over ``<timestamp>.<body>``."""

    def __init__(self, url: str, secret: bytes, *, name: str = "webhook",
                 timeout: float = 5.0, clock: Callable[[], float] = time.time) -> None:
        if len(secret) < 16:
            raise ConfigError("webhook secret must be at least 16 bytes", key=f"sinks.{name}")
        self.url = _check_url(url, f"sinks.{name}.url")
        self._secret = secret
        self.name = name
        self._timeout = timeout
        self._clock = clock

    def send(self, message: Mapping[str, Any]) -> None:
        body = json.dumps(message, separators=(",", ":")).encode()
        ts = str(int(self._clock()))
        _post(self.url, body, {"X-Bastion-Timestamp": ts,
                               "X-Bastion-Signature": sign_webhook(self._secret, ts, body)},
              self._timeout)

    def __repr__(self) -> str:
        return f"WebhookSink({self.name!r}, {urlsplit(self.url).hostname!r})"


class SlackSink:
    """Slack-style incoming webhook: ``{"text": ...}`` with a one-line summary."""

    def __init__(self, url: str, *, name: str = "slack", timeout: float = 5.0) -> None:
        self.url = _check_url(url, f"sinks.{name}.url")
        self.name = name
        self._timeout = timeout

    def send(self, message: Mapping[str, Any]) -> None:
        text = (f"*{message.get('AlarmName')}* is now *{message.get('NewStateValue')}* "
                f"(was {message.get('OldStateValue')}): {message.get('NewStateReason')}")
        _post(self.url, json.dumps({"text": text}).encode(), {}, self._timeout)

    def __repr__(self) -> str:
        return f"SlackSink({self.name!r}, {urlsplit(self.url).hostname!r})"


class EmailSink:
    """Email over SMTP (stdlib ``smtplib``), subject like SNS's CloudWatch alarm mails."""

    def __init__(self, host: str, port: int, sender: str, recipients: Sequence[str], *,
                 name: str = "email", starttls: bool = False, username: str | None = None,
                 password: str | None = None, timeout: float = 5.0) -> None:
        if not recipients:
            raise ConfigError("email sink needs at least one recipient", key=f"sinks.{name}")
        self.host, self.port, self.sender = host, port, sender
        self.recipients = list(recipients)
        self.name = name
        self._starttls, self._user, self._password = starttls, username, password
        self._timeout = timeout

    def send(self, message: Mapping[str, Any]) -> None:
        msg = EmailMessage()
        msg["Subject"] = (f'ALARM: "{message.get("AlarmName")}" in {message.get("Region")}'
                          if message.get("NewStateValue") == "ALARM" else
                          f'{message.get("NewStateValue")}: "{message.get("AlarmName")}" in '
                          f'{message.get("Region")}')
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg.set_content(json.dumps(message, indent=2))
        with smtplib.SMTP(self.host, self.port, timeout=self._timeout) as smtp:
            if self._starttls:
                smtp.starttls()
            if self._user is not None and self._password is not None:
                smtp.login(self._user, self._password)
            smtp.send_message(msg)

    def __repr__(self) -> str:
        return f"EmailSink({self.name!r}, {self.host!r}:{self.port})"


class Notifier:
    """Topic -> sinks fan-out with bounded retries on a background thread."""

    def __init__(self, topics: Mapping[str, Sequence[Sink]], *, retries: int = 3,
                 backoff: float = 0.5, max_queue: int = 1000, account_id: str = "000000000000",
                 region: str = "local", dead_letter: str | Path | None = None) -> None:
        self.topics = {k: list(v) for k, v in topics.items()}
        self._retries, self._backoff = retries, backoff
        self._account, self._region = account_id, region
        self._dead = Path(dead_letter) if dead_letter is not None else None
        self._q: queue.Queue[tuple[Sink, dict[str, Any]] | None] = queue.Queue(max_queue)
        self.delivered = self.failed = self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="bastion-notifier", daemon=True)
        self._thread.start()

    def __call__(self, change: StateChange) -> None:
        """Use as ``AlarmEvaluator(on_change=notifier)``."""
        self.notify(change)

    def notify(self, change: StateChange) -> int:
        """Queue the alarm message for every sink of the change's action topics."""
        message = alarm_message(change, account_id=self._account, region=self._region)
        n = 0
        for topic in change.actions:
            for sink in self.topics.get(topic, ()):
                try:
                    self._q.put_nowait((sink, message))
                    n += 1
                except queue.Full:
                    self.dropped += 1
        return n

    def close(self, timeout: float = 10.0) -> None:
        self._q.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            sink, message = item
            self._deliver(sink, message)

    def _deliver(self, sink: Sink, message: dict[str, Any]) -> None:
        last: Exception | None = None
        for attempt in range(self._retries + 1):
            try:
                sink.send(message)
                self.delivered += 1
                return
            except (OSError, smtplib.SMTPException, urllib.error.URLError) as exc:
                last = exc
                if attempt < self._retries:
                    time.sleep(self._backoff * (2 ** attempt))
        self.failed += 1
        if self._dead is not None:
            with open(self._dead, "a", encoding="utf-8") as f:
                f.write(json.dumps({"sink": sink.name, "error": type(last).__name__,
                                    "message": message}) + "\n")
