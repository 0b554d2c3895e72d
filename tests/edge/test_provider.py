"""``AssumeRoleProvider`` on a frozen clock: when it refreshes, that a refresh is shared, that
old credentials keep signing while a refresh fails, and when it gives up."""

from __future__ import annotations

import asyncio

import pytest

from bastion.auth.sigv4 import Credentials
from bastion.clock import FrozenClock
from bastion.edge.provider import (
    AssumeRoleProvider,
    CredentialsUnavailable,
    IssuedCredentials,
    StaticCredentials,
)


class Issuer:
    """A real fetch: hands out numbered credentials with a fixed lifetime, or fails on demand."""

    def __init__(self, clock: FrozenClock, lifetime: float = 900.0) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.calls = 0
        self.fail = False
        self.gate: asyncio.Event | None = None

    async def __call__(self) -> IssuedCredentials:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise ConnectionRefusedError("endpoint down")
        now = self.clock.time()
        creds = Credentials.of(f"ASIA{self.calls:016d}", "secret", "token")
        return IssuedCredentials(creds, received_at=now, expiration=now + self.lifetime)


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_first_use_fetches_and_refresh_is_due_at_80_percent() -> None:
    clock = FrozenClock()
    issuer = Issuer(clock)
    provider = AssumeRoleProvider(issuer, clock)

    async def main() -> None:
        assert provider.due_at() == clock.time()
        first = await provider.current()
        assert first.access_key == "ASIA0000000000000001"
        assert provider.due_at() == pytest.approx(clock.time() + 720)
        clock.advance(700)
        assert (await provider.current()).access_key == first.access_key  # no fetch yet
        assert issuer.calls == 1
    run(main())


def test_max_age_brings_the_refresh_forward() -> None:
    clock = FrozenClock()
    provider = AssumeRoleProvider(Issuer(clock), clock, max_age=60)

    async def main() -> None:
        await provider.current()
        assert provider.due_at() == pytest.approx(clock.time() + 60)
    run(main())


def test_old_credentials_keep_signing_while_refresh_fails_until_near_expiry() -> None:
    clock = FrozenClock()
    issuer = Issuer(clock)
    provider = AssumeRoleProvider(issuer, clock, expiry_margin=30)

    async def main() -> None:
        first = await provider.current()
        issuer.fail = True
        clock.advance(800)  # past the refresh point: the background refresh fails...
        with pytest.raises(CredentialsUnavailable, match="ConnectionRefusedError"):
            await provider.refresh()
        assert (await provider.current()).access_key == first.access_key  # ...still usable
        clock.advance(75)  # within the 30 s margin of expiry: unusable, a fetch is attempted
        with pytest.raises(CredentialsUnavailable):
            await provider.current()
        issuer.fail = False
        assert (await provider.current()).access_key != first.access_key
        assert provider.failures == 2
    run(main())


def test_concurrent_requests_share_one_fetch() -> None:
    clock = FrozenClock()
    issuer = Issuer(clock)
    provider = AssumeRoleProvider(issuer, clock)

    async def main() -> None:
        issuer.gate = asyncio.Event()
        waiters = [asyncio.ensure_future(provider.current()) for _ in range(20)]
        await asyncio.sleep(0)
        issuer.gate.set()
        got = await asyncio.gather(*waiters)
        assert {c.access_key for c in got} == {"ASIA0000000000000001"}
        assert issuer.calls == 1
    run(main())


def test_invalidate_refetches_once_for_the_refused_key() -> None:
    clock = FrozenClock()
    issuer = Issuer(clock)
    provider = AssumeRoleProvider(issuer, clock)

    async def main() -> None:
        first = await provider.current()
        await provider.invalidate(first.access_key)
        second = await provider.current()
        assert second.access_key != first.access_key
        await provider.invalidate(first.access_key)  # already replaced: nothing to do
        assert issuer.calls == 2
    run(main())


def test_background_loop_refreshes_on_schedule() -> None:
    clock = FrozenClock()
    issuer = Issuer(clock, lifetime=900)
    provider = AssumeRoleProvider(issuer, clock)

    async def main() -> None:
        task = asyncio.ensure_future(provider.run())
        for _ in range(5):
            await asyncio.sleep(0)
        assert issuer.calls == 1
        # nothing is due: the loop waits on asyncio.sleep(720); cancel rather than wait
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    run(main())


def test_refresh_fraction_is_checked_and_static_credentials_never_change() -> None:
    clock = FrozenClock()
    with pytest.raises(ValueError):
        AssumeRoleProvider(Issuer(clock), clock, refresh_at=1.0)
    static = StaticCredentials(Credentials.of("AKIAEXAMPLE000000001", "s"))

    async def main() -> None:
        assert (await static.current()).access_key == "AKIAEXAMPLE000000001"
        await static.invalidate("AKIAEXAMPLE000000001")
    run(main())


def test_many_refusals_of_one_key_share_one_fetch() -> None:
    clock = FrozenClock()
    issuer = Issuer(clock)
    provider = AssumeRoleProvider(issuer, clock)

    async def main() -> None:
        first = await provider.current()
        issuer.gate = asyncio.Event()
        waiters = [asyncio.ensure_future(provider.invalidate(first.access_key))
                   for _ in range(10)]
        await asyncio.sleep(0)
        issuer.gate.set()
        await asyncio.gather(*waiters)
        assert issuer.calls == 2
    run(main())
