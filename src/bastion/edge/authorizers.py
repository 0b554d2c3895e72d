"""Custom (Lambda-style) authorizers for two origin lock-down patterns.

``shared_secret``: the edge injects a secret header (``edge.set_headers``); the origin allows a
request only when the header holds one of the configured secrets. Two secrets are valid while
one is rotated (add the new one at the origin, switch the edge, remove the old one), so a
rotation loses no request. Secrets come from the environment or, for rotation without a
restart, from a file re-read when it changes:

* ``BASTION_EDGE_SECRETS_FILE``: a file with one secret per line (at most 8; blank lines and
  ``#`` comments ignored);
* ``BASTION_EDGE_SECRET`` and ``BASTION_EDGE_SECRET_PREVIOUS``: fixed secrets;
* ``BASTION_EDGE_SECRET_HEADER``: the header a REQUEST authorizer reads (``x-origin-verify``).

A missing header is 401 ``Unauthorized`` (as a TOKEN authorizer's identity source check gives),
a wrong one an explicit deny, 403 ``User is not authorized to access this resource with an
explicit deny``. Comparison is constant time, over every configured secret.

``source_ip``: allows only callers whose source address is in ``BASTION_EDGE_SOURCE_IPS``
(comma-separated addresses or CIDRs); everyone else gets the explicit deny. It reads the
request's ``sourceIp``: keep ``server.trust_forwarded_for`` off on that gateway, else a client
could claim any address in ``X-Forwarded-For``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import threading
from pathlib import Path
from typing import Any

__all__ = ["shared_secret", "source_ip"]

_MAX_SECRETS = 8


class _Secrets:
    """The configured secrets, re-read from the file when its mtime or size changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[object, ...] | None = None
        self._digests: list[bytes] = []

    def digests(self) -> list[bytes]:
        file = os.environ.get("BASTION_EDGE_SECRETS_FILE", "")
        fixed = (os.environ.get("BASTION_EDGE_SECRET", ""),
                 os.environ.get("BASTION_EDGE_SECRET_PREVIOUS", ""))
        stamp: tuple[int, int] | None = None
        if file:
            try:
                st = Path(file).stat()
                stamp = (st.st_mtime_ns, st.st_size)
            except OSError:
                stamp = None
        key = (file, stamp, hashlib.sha256("\0".join(fixed).encode()).digest())
        with self._lock:
            if key == self._key:
                return self._digests
            values = [v for v in fixed if v]
            if file and stamp is not None:
                try:
                    lines = Path(file).read_text(encoding="utf-8").splitlines()
                except OSError:
                    return self._digests  # keep the last good set during a rewrite
                values += [ln.strip() for ln in lines
                           if ln.strip() and not ln.lstrip().startswith("#")]
            self._digests = [hashlib.sha256(v.encode()).digest()
                             for v in values[:_MAX_SECRETS]]
            self._key = key
            return self._digests


_SECRETS = _Secrets()


def _matches(presented: str) -> int | None:
    given = hashlib.sha256(presented.encode()).digest()
    found: int | None = None
    for i, want in enumerate(_SECRETS.digests(), 1):
        if hmac.compare_digest(given, want) and found is None:
            found = i
    return found


def _api_wide(method_arn: str) -> str:
    """``arn:...:api/stage/*``: the policy covers every method, so a cached decision is right
    for all of them (the authorizer-cache pitfall avoided)."""
    head, _, rest = method_arn.partition("/")
    stage = rest.split("/", 1)[0]
    return f"{head}/{stage}/*"


def _policy(effect: str, method_arn: str, principal: str,
            context: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "principalId": principal,
        "policyDocument": {"Version": "2012-10-17", "Statement": [{
            "Action": "execute-api:Invoke", "Effect": effect,
            "Resource": _api_wide(method_arn)}]},
    }
    if context:
        out["context"] = context
    return out


def _header(event: dict[str, Any], name: str) -> str | None:
    headers = event.get("headers") or {}
    low = name.lower()
    for k, v in headers.items():
        if str(k).lower() == low:
            return str(v)
    return None


def shared_secret(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """TOKEN (identity source: the secret header) or REQUEST authorizer."""
    arn = str(event.get("methodArn") or event.get("routeArn") or "")
    if event.get("type") == "TOKEN":
        presented = event.get("authorizationToken")
    else:
        presented = _header(event, os.environ.get("BASTION_EDGE_SECRET_HEADER",
                                                  "x-origin-verify"))
    if not presented:
        raise Exception("Unauthorized")  # AWS's 401: the message must be exactly this
    index = _matches(str(presented))
    if index is None:
        return _policy("Deny", arn, "unknown")
    return _policy("Allow", arn, "edge", {"edgeSecret": f"#{index}"})


def _networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    out = []
    for item in os.environ.get("BASTION_EDGE_SOURCE_IPS", "").split(","):
        if item.strip():
            out.append(ipaddress.ip_network(item.strip(), strict=False))
    return out


def source_ip(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """REQUEST authorizer: allow only the edge's source addresses."""
    arn = str(event.get("methodArn") or event.get("routeArn") or "")
    rc = event.get("requestContext") or {}
    ip = (rc.get("identity") or {}).get("sourceIp") or (rc.get("http") or {}).get("sourceIp")
    try:
        addr = ipaddress.ip_address(str(ip))
    except ValueError:
        return _policy("Deny", arn, "unknown")
    if any(addr in net for net in _networks()):
        return _policy("Allow", arn, f"edge:{addr}")
    return _policy("Deny", arn, "unknown")
