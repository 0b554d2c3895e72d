"""Where the edge's signing credentials come from: short-lived ones, refreshed ahead of expiry.

``AssumeRoleProvider`` holds the current temporary credentials and a ``fetch`` coroutine that
gets new ones (from the gateway's credential endpoint, ``bastion.edge.sts``). A background loop
refreshes at ``refresh_at`` of the lifetime (80% by default, or sooner with ``max_age``);
requests keep signing with the current credentials meanwhile, and those stay valid at the
gateway until they expire, so a rotation never fails a request. A request that finds no usable
credentials (at startup, or after refreshes failed until expiry) waits for one fetch, shared by
every waiting request. ``StaticCredentials`` is the long-term-key alternative (tests, labs).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from bastion.auth.sigv4 import Credentials
from bastion.clock import Clock

__all__ = ["AssumeRoleProvider", "CredentialSource", "CredentialsUnavailable",
           "IssuedCredentials", "StaticCredentials"]

log = logging.getLogger("bastion.edge")


class CredentialsUnavailable(Exception):
    """No usable credentials (the endpoint refused or is unreachable); the message is safe to
    log and carries no secret."""


@dataclass(frozen=True, slots=True)
class IssuedCredentials:
    """Temporary credentials as received: when they were received and when they expire."""

    credentials: Credentials
    received_at: float
    expiration: float

    @property
    def lifetime(self) -> float:
        return max(0.0, self.expiration - self.received_at)


class CredentialSource(Protocol):
    async def current(self) -> Credentials: ...

    async def invalidate(self, access_key: str) -> None: ...


class StaticCredentials:
    """A fixed key pair (the edge then holds a long-term secret: for tests and labs only)."""

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    async def current(self) -> Credentials:
        return self._credentials

    async def invalidate(self, access_key: str) -> None:
        return None


Fetch = Callable[[], Awaitable[IssuedCredentials]]


class AssumeRoleProvider:
    """Temporary credentials from ``fetch``, refreshed before they expire."""

    def __init__(self, fetch: Fetch, clock: Clock, *, refresh_at: float = 0.8,
                 max_age: float | None = None, expiry_margin: float = 30.0,
                 retry_min: float = 0.5, retry_max: float = 30.0) -> None:
        if not 0.0 < refresh_at < 1.0:
            raise ValueError("refresh_at is a fraction of the lifetime, in (0, 1)")
        self._fetch = fetch
        self._clock = clock
        self.refresh_at = refresh_at
        self.max_age = max_age
        self.expiry_margin = expiry_margin
        self.retry_min = retry_min
        self.retry_max = retry_max
        self._issued: IssuedCredentials | None = None
        self._lock = asyncio.Lock()
        self._generation = 0
        self.refreshes = 0
        self.failures = 0

    @property
    def issued(self) -> IssuedCredentials | None:
        return self._issued

    def due_at(self) -> float:
        """When the next refresh should start (now when there is nothing to refresh)."""
        issued = self._issued
        if issued is None:
            return self._clock.time()
        due = issued.received_at + issued.lifetime * self.refresh_at
        if self.max_age is not None:
            due = min(due, issued.received_at + self.max_age)
        return due

    def usable(self) -> bool:
        """Whether the current credentials can still sign a request that will be accepted:
        not within ``expiry_margin`` (capped at a fifth of the lifetime) of expiry."""
        issued = self._issued
        if issued is None:
            return False
        margin = min(self.expiry_margin, issued.lifetime * 0.2)
        return self._clock.time() < issued.expiration - margin

    async def current(self) -> Credentials:
        if not self.usable():
            await self.refresh(stale_generation=self._generation)
        issued = self._issued
        if issued is None or not self.usable():
            raise CredentialsUnavailable("no usable temporary credentials")
        return issued.credentials

    async def refresh(self, *, stale_generation: int | None = None) -> None:
        """Fetch new credentials. With ``stale_generation``, a refresh that another caller
        completed while this one waited for the lock counts (single flight)."""
        async with self._lock:
            if stale_generation is not None and self._generation != stale_generation \
                    and self.usable():
                return
            try:
                issued = await self._fetch()
            except CredentialsUnavailable:
                self.failures += 1
                raise
            except Exception as exc:  # network errors and the like, as one kind
                self.failures += 1
                raise CredentialsUnavailable(f"credential fetch failed: {type(exc).__name__}") \
                    from None
            self._issued = issued
            self._generation += 1
            self.refreshes += 1
            log.info("edge credentials refreshed: access key %s, expires in %.0fs",
                     issued.credentials.access_key, issued.lifetime)

    async def invalidate(self, access_key: str) -> None:
        """The origin refused ``access_key`` (e.g. the gateway restarted and forgot its
        sessions): fetch new credentials unless that already happened."""
        issued, generation = self._issued, self._generation
        if issued is not None and issued.credentials.access_key != access_key:
            return
        # requests refused together share one fetch: a caller that waited for the lock
        # while another replaced the credentials does not fetch again
        await self.refresh(stale_generation=generation)

    async def run(self) -> None:
        """The background refresher: runs until cancelled; never raises."""
        backoff = self.retry_min
        while True:
            delay = self.due_at() - self._clock.time()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                await self.refresh()
                backoff = self.retry_min
            except CredentialsUnavailable as exc:
                log.warning("edge credential refresh failed (%s); retrying in %.1fs", exc,
                            backoff)
                await asyncio.sleep(backoff)
                backoff = min(self.retry_max, backoff * 2)
            except asyncio.CancelledError:
                raise
            except Exception:  # a background duty must never stop
                log.exception("edge credential refresher failed")
                await asyncio.sleep(backoff)
