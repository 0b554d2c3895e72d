"""CAPTCHA and Challenge as a token-cookie interstitial, AWS-shaped.

AWS answers a CAPTCHA action with 405 and a Challenge with 202 plus an interstitial page; after
the client passes, it carries an ``aws-waf-token`` cookie and later requests inside the immunity
time go on as if the rule had only counted them. Bastion keeps that contract with an HMAC-signed
cookie holding the times the client passed each kind of check. The interstitial sets the cookie
from script (Challenge: automatically; CAPTCHA: after the user presses a button), so it proves a
script-running browser, not a human: a real puzzle can be plugged in through ``page``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets

from bastion.clock import Clock

__all__ = ["TOKEN_COOKIE", "TokenService"]

TOKEN_COOKIE = "aws-waf-token"
_MAX_TOKEN = 512


class TokenService:
    """Issues and verifies ``aws-waf-token`` cookies. The secret never appears in a repr."""

    __slots__ = ("_clock", "_key")

    def __init__(self, secret: bytes, clock: Clock) -> None:
        if len(secret) < 16:
            raise ValueError("the token secret must be at least 16 bytes")
        self._key = hashlib.sha256(b"bastion-waf-token\x00" + secret).digest()
        self._clock = clock

    def __repr__(self) -> str:
        return "TokenService(<secret>)"

    def _sign(self, payload: bytes) -> str:
        return hmac.new(self._key, payload, hashlib.sha256).hexdigest()

    def issue(self, *, captcha: float | None = None, challenge: float | None = None) -> str:
        data = {"c": captcha or 0, "h": challenge or 0, "n": secrets.token_hex(8)}
        payload = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode())
        return payload.decode() + "." + self._sign(payload)

    def read(self, token: str | None) -> tuple[float, float] | None:
        """The (captcha, challenge) solve times of a genuine token, or None."""
        if not token or len(token) > _MAX_TOKEN or "." not in token:
            return None
        payload, _, sig = token.rpartition(".")
        if not hmac.compare_digest(self._sign(payload.encode()), sig):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(payload.encode()))
            return float(data["c"]), float(data["h"])
        except (ValueError, KeyError, TypeError):
            return None

    def solved(self, token: str | None, kind: str, immunity: int) -> float | None:
        """The solve time if ``token`` passed ``kind`` (CAPTCHA or CHALLENGE) within
        ``immunity`` seconds. A solved CAPTCHA also satisfies a Challenge, as on AWS."""
        got = self.read(token)
        if got is None:
            return None
        now = self._clock.time()
        c, h = got
        times = [c] if kind == "CAPTCHA" else [c, h]
        ok = [t for t in times if t > 0 and 0 <= now - t <= immunity]
        return max(ok) if ok else None

    def page(self, kind: str, request_id: str = "") -> tuple[int, tuple[tuple[str, str], ...],
                                                               bytes]:
        """The interstitial: status, headers and an HTML body that sets a fresh token and shows
        the request id (the one in ``x-amzn-RequestId``, for a user reporting a problem)."""
        now = self._clock.time()
        if kind == "CAPTCHA":
            token = self.issue(captcha=now, challenge=now)
            status, action = 405, "captcha"
            trigger = ('<button id="go" onclick="pass()">I am not a robot</button>')
            auto = ""
        else:
            token = self.issue(challenge=now)
            status, action = 202, "challenge"
            trigger = "<noscript>Enable JavaScript to continue.</noscript>"
            auto = "pass();"
        tok = html.escape(json.dumps(token), quote=False)
        body = (
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Checking your browser"
            "</title></head><body>" + trigger +
            (f"<p>Request ID: {html.escape(request_id)}</p>" if request_id else "") +
            f"<script>function pass(){{document.cookie=\"{TOKEN_COOKIE}=\"+{tok}"
            "+\"; path=/; SameSite=Lax\";location.reload();}" + auto + "</script></body></html>"
        ).encode()
        headers = (("content-type", "text/html; charset=utf-8"),
                   ("x-amzn-waf-action", action), ("cache-control", "no-store"))
        return status, headers, body
