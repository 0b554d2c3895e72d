"""Each tamper class is caught with its own kind; clean chains raise no alarm."""

from __future__ import annotations

import gzip
import json
import random
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from bastion.observe.audit import AuditTrail, Signer, UserIdentity, string_to_sign, verify
from bastion.observe.audit.layout import DIGEST_NAME, LOG_NAME, log_key

from .conftest import HOUR, T0, Chain, build_chain


def _logs(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.json.gz")
                  if LOG_NAME.match(p.relative_to(root).as_posix()))


def _digests(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.json.gz")
                  if DIGEST_NAME.match(p.relative_to(root).as_posix()))


def _rewrite(path: Path, fn: object) -> None:
    data = json.loads(gzip.decompress(path.read_bytes()))
    fn(data)  # type: ignore[operator]
    path.write_bytes(gzip.compress(json.dumps(data, separators=(",", ":")).encode()))


def _multi_record_log(chain: Chain) -> Path:
    """A log file holding several records (the fixture delivers them one by one)."""
    who = UserIdentity(type="Root", principal_id="123456789012")
    for i in range(3):
        chain.trail.event("CreateKey", who, request_parameters={"i": i})
        chain.clock.advance(1)
    chain.trail.flush()
    chain.clock.advance(HOUR)
    chain.trail.tick()
    chain.clock.advance(60)
    return max(_logs(chain.root), key=lambda p: len(
        json.loads(gzip.decompress(p.read_bytes()))["Records"]))


def test_clean_chain_is_valid(chain: Chain) -> None:
    report = chain.verify_now()
    assert report.ok, report.summary()
    assert report.digests_valid == report.digests_total == 6
    assert report.logs_valid == report.logs_total > 0
    text = report.summary()
    assert "Results requested for" in text and "6/6 digest files valid" in text


def test_edited_log(chain: Chain) -> None:
    _rewrite(_logs(chain.root)[3], lambda d: d["Records"][0].update(eventName="Nothing"))
    assert chain.verify_now().kinds() == {"log-hash-mismatch"}


def test_deleted_log(chain: Chain) -> None:
    _logs(chain.root)[2].unlink()
    report = chain.verify_now()
    assert report.kinds() == {"log-missing"}
    assert "not found" in report.problems[0].message


def test_truncated_gzip(chain: Chain) -> None:
    p = _logs(chain.root)[1]
    p.write_bytes(p.read_bytes()[:-12])
    assert chain.verify_now().kinds() == {"log-truncated"}


def test_truncated_records(chain: Chain) -> None:
    p = _multi_record_log(chain)
    _rewrite(p, lambda d: d["Records"].pop())
    assert chain.verify_now().kinds() == {"log-truncated"}


def test_reordered_records(chain: Chain) -> None:
    p = _multi_record_log(chain)
    _rewrite(p, lambda d: d["Records"].reverse())
    report = chain.verify_now()
    assert report.kinds() == {"log-reordered"}
    assert "order" in report.problems[0].message


def test_renamed_log(chain: Chain) -> None:
    p = _logs(chain.root)[4]
    p.rename(p.with_name(p.name[:-24] + "zzzzzzzzzzzzzzzz.json.gz"))
    assert chain.verify_now().kinds() == {"log-missing", "log-moved"}


def test_renamed_log_to_foreign_name(chain: Chain) -> None:
    p = _logs(chain.root)[4]
    p.rename(p.with_name("renamed.json.gz"))
    assert chain.verify_now().kinds() == {"log-missing", "log-not-in-digest"}


def test_forged_log(chain: Chain) -> None:
    key = log_key("123456789012", "local", T0 + 2.5 * HOUR, "f" * 16)
    (chain.root / key).write_bytes(gzip.compress(b'{"Records":[]}'))
    report = chain.verify_now()
    assert report.kinds() == {"log-not-in-digest"}
    assert "not listed in any digest" in report.problems[0].message


def test_edited_middle_digest(chain: Chain) -> None:
    _rewrite(_digests(chain.root)[2], lambda d: d["logFiles"].pop())
    # the dropped entry's log file is now listed nowhere: reported as well
    assert chain.verify_now().kinds() == {"digest-hash-mismatch", "log-not-in-digest"}


def test_edited_newest_digest(chain: Chain) -> None:
    _rewrite(_digests(chain.root)[-1], lambda d: d["logFiles"].pop())
    assert chain.verify_now().kinds() == {"digest-signature", "log-not-in-digest"}


def test_edited_log_and_its_hash(chain: Chain) -> None:
    log = _logs(chain.root)[0]
    _rewrite(log, lambda d: d["Records"][0].update(eventName="Hidden"))
    import hashlib
    sha = hashlib.sha256(gzip.decompress(log.read_bytes())).hexdigest()
    _rewrite(_digests(chain.root)[0], lambda d: d["logFiles"][0].update(hashValue=sha))
    assert chain.verify_now().kinds() == {"digest-hash-mismatch"}


def test_deleted_middle_digest(chain: Chain) -> None:
    d = _digests(chain.root)[3]
    d.unlink()
    report = chain.verify_now()
    assert "digest-missing" in report.kinds()
    assert report.kinds() <= {"digest-missing", "log-not-in-digest"}


def test_deleted_newest_digests(chain: Chain) -> None:
    for d in _digests(chain.root)[-2:]:
        d.unlink()
        d.with_name(d.name + ".sig").unlink()
    report = chain.verify_now()
    assert "digest-tail-missing" in report.kinds()
    assert report.kinds() <= {"digest-tail-missing", "log-not-in-digest"}


def test_deleted_signature_sidecar_of_newest(chain: Chain) -> None:
    d = _digests(chain.root)[-1]
    d.with_name(d.name + ".sig").unlink()
    assert chain.verify_now().kinds() == {"digest-signature"}


def test_forged_digest_with_foreign_key(chain: Chain) -> None:
    other = Signer(ed25519.Ed25519PrivateKey.generate())
    d = _digests(chain.root)[-1]

    def resign(data: dict[str, object]) -> None:
        data["digestPublicKeyFingerprint"] = other.fingerprint
    _rewrite(d, resign)
    report = chain.verify_now()
    assert report.kinds() == {"digest-key-not-found"}


def test_forged_digest_bad_signature(chain: Chain) -> None:
    """Re-signed with another key but claiming ours: the signature fails."""
    other = Signer(ed25519.Ed25519PrivateKey.generate())
    d = _digests(chain.root)[-1]
    _rewrite(d, lambda data: data["logFiles"].clear())
    raw = gzip.decompress(d.read_bytes())
    data = json.loads(raw)
    import hashlib
    sig = other.sign(string_to_sign(data["digestEndTime"], data["digestS3Bucket"],
                                    data["digestS3Object"], hashlib.sha256(raw).hexdigest(),
                                    data["previousDigestSignature"]))
    d.with_name(d.name + ".sig").write_text(json.dumps(
        {"signature": sig, "signatureAlgorithm": "Ed25519"}))
    report = chain.verify_now()
    assert "digest-signature" in report.kinds()


def test_moved_digest(chain: Chain) -> None:
    d = _digests(chain.root)[-1]
    target = d.with_name(d.name.replace("T060000Z", "T063000Z"))
    d.rename(target)
    d.with_name(d.name + ".sig").rename(target.with_name(target.name + ".sig"))
    report = chain.verify_now()
    assert "digest-moved" in report.kinds()


def test_copied_digest_not_in_chain(chain: Chain) -> None:
    d = _digests(chain.root)[1]
    target = d.with_name(d.name.replace("T020000Z", "T053000Z"))
    shutil.copy(d, target)
    report = chain.verify_now()
    assert report.kinds() & {"digest-moved", "digest-not-in-chain"}


def test_rsa_chain_and_restart(tmp_path: Path) -> None:
    signer = Signer(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    chain = build_chain(tmp_path, signer, hours=2)
    chain.trail.close()
    # a restarted trail continues the chain from the newest digest on disk
    trail = AuditTrail(tmp_path, signer, chain.clock, account_id="123456789012")
    trail.event("ReloadConfig", UserIdentity(type="AWSService", invoked_by="bastion"))
    chain.clock.advance(2 * HOUR)
    trail.tick()
    report = verify(tmp_path, signer.public_key, T0 - HOUR, chain.clock.time(),
                    now=chain.clock.time())
    assert report.ok, report.summary()
    assert report.digests_valid == report.digests_total == 5


def test_key_inside_log_dir_refused(tmp_path: Path, signer: Signer) -> None:
    from bastion.clock import FrozenClock
    from bastion.errors import ConfigError
    with pytest.raises(ConfigError, match="must not be kept inside"):
        AuditTrail(tmp_path, signer, FrozenClock(), private_key_path=tmp_path / "k.pem")


def test_hundred_clean_chains_no_false_alarm(tmp_path: Path, signer: Signer) -> None:
    rng = random.Random(9)
    who = UserIdentity(type="IAMUser", user_name="ops")
    for n in range(100):
        from bastion.clock import FrozenClock
        root = tmp_path / f"c{n}"
        start = T0 + rng.randrange(0, 7 * 24 * HOUR)
        clock = FrozenClock(start)
        trail = AuditTrail(root, signer, clock, delivery_seconds=rng.choice([60, 300, 900]),
                           max_records=rng.choice([2, 50]))
        for _ in range(rng.randrange(0, 30)):
            if rng.random() < 0.7:
                trail.event("PutRule", who, read_only=rng.random() < 0.3)
            clock.advance(rng.choice([1, 30, 600, 1800, 3 * HOUR]))
            if rng.random() < 0.3:
                trail.tick()
        clock.advance(rng.randrange(0, 1000))
        if rng.random() < 0.5:
            trail.close()
        else:
            trail.tick()
        report = verify(root, signer.public_key, start - HOUR, clock.time(), now=clock.time())
        assert report.ok, (n, report.summary())


def _tamper(rng: random.Random, root: Path) -> bool:
    """Apply one random tamper; False when the chain offers nothing to tamper with."""
    logs, digs = _logs(root), _digests(root)
    kind = rng.choice(["edit_log", "del_log", "trunc_log", "forge_log", "rename_log",
                       "del_digest", "edit_digest", "del_newest", "del_sig"])
    if not logs or not digs:
        return False
    p = rng.choice(logs)
    if kind == "edit_log":
        _rewrite(p, lambda d: d["Records"][0].update(eventName="X"))
    elif kind == "del_log":
        p.unlink()
    elif kind == "trunc_log":
        data = p.read_bytes()
        p.write_bytes(data[: rng.randrange(1, len(data))])
    elif kind == "forge_log":
        shutil.copy(p, p.with_name(p.name[:-24] + "f" * 16 + ".json.gz"))
    elif kind == "rename_log":
        p.rename(p.with_name(p.name[:-24] + "q" * 16 + ".json.gz"))
    elif kind == "del_digest":
        rng.choice(digs).unlink()
    elif kind == "edit_digest":
        _rewrite(rng.choice(digs), lambda d: d.update(oldestEventTime="2000-01-01T00:00:00Z"))
    elif kind == "del_newest":
        digs[-1].unlink()
    else:
        d = rng.choice(digs)
        d.with_name(d.name + ".sig").unlink()
    return True


def test_random_tampering_of_digested_content_always_detected(tmp_path: Path,
                                                             signer: Signer) -> None:
    """Closed trails (everything digested), verified two hours later: no tamper goes unseen."""
    from bastion.clock import FrozenClock
    rng = random.Random(11)
    who = UserIdentity(type="IAMUser", user_name="ops")
    tried = 0
    for n in range(80):
        root = tmp_path / f"t{n}"
        start = T0 + rng.randrange(0, 7 * 24 * HOUR)
        clock = FrozenClock(start)
        trail = AuditTrail(root, signer, clock, delivery_seconds=rng.choice([60, 300, 900]),
                           max_records=rng.choice([1, 3, 50]))
        for _ in range(rng.randrange(3, 20)):
            trail.event("PutRule", who)
            clock.advance(rng.choice([1, 30, 600, 1800, 3600]))
        trail.close()
        args = (root, signer.public_key, start - HOUR, clock.time())
        assert verify(*args, now=clock.time() + 2 * HOUR).ok
        if _tamper(rng, root):
            tried += 1
            assert not verify(*args, now=clock.time() + 2 * HOUR).ok, n
    assert tried >= 60


def test_replaced_signature_file_of_middle_digest(chain: Chain) -> None:
    d = _digests(chain.root)[2]
    side = d.with_name(d.name + ".sig")
    meta = json.loads(side.read_text())
    meta["signature"] = "00" * 64
    side.write_text(json.dumps(meta))
    assert chain.verify_now().kinds() == {"digest-signature"}


def test_world_readable_key_refused(tmp_path: Path, signer: Signer) -> None:
    from bastion.clock import FrozenClock
    from bastion.errors import ConfigError
    key = tmp_path / "keys" / "k.pem"
    key.parent.mkdir()
    key.write_text("x")
    key.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        AuditTrail(tmp_path / "logs", signer, FrozenClock(), private_key_path=key)
