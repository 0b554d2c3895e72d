from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from bastion.clock import FrozenClock
from bastion.observe.audit import AuditTrail, Signer, UserIdentity

HOUR = 3600
T0 = 1_767_225_600.0 + 17 * 60  # 2026-01-01T00:17:00Z


@dataclass
class Chain:
    root: Path
    signer: Signer
    clock: FrozenClock
    trail: AuditTrail
    start: float

    def verify_now(self, **kw: object):  # type: ignore[no-untyped-def]
        from bastion.observe.audit import verify
        return verify(self.root, self.signer.public_key, self.start - HOUR, self.clock.time(),
                      now=self.clock.time(), **kw)  # type: ignore[arg-type]


def build_chain(root: Path, signer: Signer, *, hours: int = 6, per_hour: int = 4,
                start: float = T0, delivery: int = 300) -> Chain:
    clock = FrozenClock(start)
    trail = AuditTrail(root, signer, clock, account_id="123456789012", region="local",
                       delivery_seconds=delivery)
    who = UserIdentity(type="IAMUser", principal_id="AIDAEXAMPLE", user_name="alice",
                       access_key_id="AKIDEXAMPLE", account_id="123456789012",
                       arn="arn:aws:iam::123456789012:user/alice")
    for h in range(hours):
        for i in range(per_hour):
            trail.event("UpdateWebACL", who, request_parameters={"hour": h, "i": i})
            clock.advance(HOUR / per_hour)
        trail.tick()
    clock.advance(120)
    trail.tick()
    return Chain(root, signer, clock, trail, start)


@pytest.fixture(scope="session")
def signer() -> Signer:
    return Signer(ed25519.Ed25519PrivateKey.generate())


@pytest.fixture
def chain(tmp_path: Path, signer: Signer) -> Chain:
    return build_chain(tmp_path / "audit", signer)
