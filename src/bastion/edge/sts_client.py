"""The edge's side of the credential endpoint: one AssumeRole call over the pooled client.

The request carries the bootstrap token (``Authorization: Bearer ...``) unless the connection
itself authenticates the edge (mTLS: the pool's TLS context holds the client certificate).
The answer is STS's ``AssumeRole`` result shape (``Credentials.AccessKeyId`` ...).
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from bastion.auth.secret import Secret
from bastion.auth.sigv4 import Credentials
from bastion.clock import Clock
from bastion.edge.provider import CredentialsUnavailable, IssuedCredentials
from bastion.http.upstream import UpstreamPool

__all__ = ["AssumeRoleClient", "parse_assume_role"]

_MAX_ANSWER = 64 * 1024


def parse_assume_role(body: bytes, *, received_at: float) -> IssuedCredentials:
    """``IssuedCredentials`` from an AssumeRole JSON answer; CredentialsUnavailable if it is
    not one (the message never quotes the body: it holds secrets)."""
    try:
        doc = orjson.loads(body)
        creds = doc["Credentials"]
        access_key = str(creds["AccessKeyId"])
        secret = str(creds["SecretAccessKey"])
        token = str(creds["SessionToken"])
        expiration = datetime.strptime(str(creds["Expiration"]), "%Y-%m-%dT%H:%M:%SZ")
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise CredentialsUnavailable("the credential endpoint answered something that is "
                                     "not an AssumeRole result") from None
    expires = expiration.replace(tzinfo=UTC).timestamp()
    return IssuedCredentials(Credentials(access_key, Secret(secret), Secret(token)),
                             received_at=received_at, expiration=expires)


class AssumeRoleClient:
    """``await client()`` -> fresh ``IssuedCredentials`` (an ``AssumeRoleProvider`` fetch)."""

    def __init__(self, pool: UpstreamPool, path: str, *, host: str, role: str,
                 session_name: str, duration: int, token: Secret | None, clock: Clock,
                 timeout: float = 5.0) -> None:
        self.pool = pool
        self.path = path
        self.host = host
        self.role = role
        self.session_name = session_name
        self.duration = duration
        self.token = token
        self.clock = clock
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"AssumeRoleClient({self.pool.origin.authority}{self.path}, role={self.role})"

    async def __call__(self) -> IssuedCredentials:
        body = orjson.dumps({"RoleName": self.role, "RoleSessionName": self.session_name,
                             "DurationSeconds": self.duration})
        headers = [(b"host", self.host.encode("latin-1")),
                   (b"content-type", b"application/json"), (b"accept", b"application/json")]
        if self.token is not None:
            headers.append((b"authorization", b"Bearer " + self.token.reveal().encode()))
        upstream = await self.pool.request("POST", self.path, headers, body,
                                           timeout=self.timeout)
        chunks: list[bytes] = []
        size = 0
        async for chunk in upstream.body():
            size += len(chunk)
            if size > _MAX_ANSWER:
                raise CredentialsUnavailable("the credential endpoint's answer is too large")
            chunks.append(chunk)
        answer = b"".join(chunks)
        if upstream.status != 200:
            code = ""
            try:
                code = str(orjson.loads(answer)["Error"]["Code"])[:64]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                pass
            raise CredentialsUnavailable(
                f"the credential endpoint refused: HTTP {upstream.status} {code}".rstrip())
        return parse_assume_role(answer, received_at=self.clock.time())
