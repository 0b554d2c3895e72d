"""Credentials file: users/roles/keys/policies, masked secrets, STS-style sessions, rotation
by reload, and the store as the SigV4 verifier's key resolver (end to end with botocore)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from bastion.auth.credentials import CredentialStore, Principal, Secret
from bastion.auth.iam import execute_api_arn, simulate
from bastion.auth.sigv4 import SigV4Verifier
from bastion.auth.sigv4._dates import parse_amz_date
from bastion.clock import FrozenClock
from bastion.errors import ConfigError

ACCOUNT = "123456789012"
ALICE_KEY, ALICE_SECRET = "AKIAEXAMPLEALICE0001", "alice-secret-value-1"
FILE = f"""
users:
  - name: alice
    account: "{ACCOUNT}"
    tags: {{team: pets}}
    access_keys:
      - id: {ALICE_KEY}
        secret: {ALICE_SECRET}
      - id: AKIAEXAMPLEALICE0OLD
        secret: old-secret-value
        status: Inactive
    policies:
      - read.json
      - Version: "2012-10-17"
        Statement:
          Effect: Deny
          Action: execute-api:Invoke
          Resource: "arn:aws:execute-api:*:*:*/*/DELETE/*"
roles:
  - name: PetAdmin
    account: "{ACCOUNT}"
    max_session_seconds: 7200
    policies:
      - Version: "2012-10-17"
        Statement:
          Effect: Allow
          Action: execute-api:Invoke
          Resource: "*"
"""
READ = ('{"Version": "2012-10-17", "Statement": {"Effect": "Allow", '
        '"Action": "execute-api:Invoke", "Resource": "arn:aws:execute-api:*:*:*/*/GET/*"}}')


@pytest.fixture
def creds_file(tmp_path: Path) -> Path:
    (tmp_path / "read.json").write_text(READ)
    path = tmp_path / "credentials.yaml"
    path.write_text(FILE)
    return path


@pytest.fixture
def store(creds_file: Path, clock: FrozenClock) -> CredentialStore:
    return CredentialStore(creds_file, clock)


def test_lookup_returns_the_principal(store: CredentialStore) -> None:
    p = store.lookup(ALICE_KEY)
    assert isinstance(p, Principal)
    assert p.arn == f"arn:aws:iam::{ACCOUNT}:user/alice"
    assert (p.account, p.name, p.username, p.type) == (ACCOUNT, "alice", "alice", "User")
    assert p.userid.startswith("AIDA") and len(p.userid) == 21
    assert dict(p.tags) == {"team": "pets"}
    assert len(p.policies) == 2


def test_inactive_and_unknown_keys_are_refused(store: CredentialStore) -> None:
    assert store.lookup("AKIAEXAMPLEALICE0OLD") is None
    assert store.resolve("AKIANOTAKEY000000000") is None


def test_secrets_are_masked_everywhere(store: CredentialStore,
                                       caplog: pytest.LogCaptureFixture) -> None:
    resolved = store.resolve(ALICE_KEY)
    assert resolved is not None
    texts = [repr(resolved), str(resolved), repr(store), f"{resolved.secret}",
             repr(store.issue_session("PetAdmin", "s1"))]
    logging.getLogger("test").warning("key %s %r", resolved.secret, resolved)
    texts.append(caplog.text)
    for text in texts:
        assert ALICE_SECRET not in text
    assert resolved.secret.reveal() == ALICE_SECRET
    assert Secret("x") == Secret("x") and Secret("x").matches("x") and not Secret("x").matches("y")


def test_principal_policies_drive_decisions(store: CredentialStore, clock: FrozenClock) -> None:
    p = store.lookup(ALICE_KEY)
    assert p is not None
    ctx = p.context(now=clock.time(), source_ip="10.0.0.1", secure_transport=True)
    assert ctx.get("aws:username") == ("alice",)
    assert ctx.get("aws:PrincipalTag/team") == ("pets",)
    get = execute_api_arn("us-east-1", ACCOUNT, "abc", "prod", "GET", "/pets")
    delete = execute_api_arn("us-east-1", ACCOUNT, "abc", "prod", "DELETE", "/pets/1")
    post = execute_api_arn("us-east-1", ACCOUNT, "abc", "prod", "POST", "/pets")
    assert simulate(p.policies, None, "execute-api:Invoke", get, p.arn, ctx).allowed
    assert simulate(p.policies, None, "execute-api:Invoke", delete, p.arn, ctx).explicit
    assert not simulate(p.policies, None, "execute-api:Invoke", post, p.arn, ctx).allowed


def test_temporary_credentials(store: CredentialStore, clock: FrozenClock) -> None:
    t = store.issue_session("PetAdmin", "deploy", duration=900)
    assert t.access_key.startswith("ASIA")
    assert t.principal.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/PetAdmin/deploy"
    assert t.principal.type == "AssumedRole" and t.principal.username is None
    assert t.principal.userid.startswith("AROA") and t.principal.userid.endswith(":deploy")
    resolved = store.resolve(t.access_key)
    assert resolved is not None and resolved.session_token is not None
    assert store.check_session_token(t.access_key, t.session_token.reveal())
    assert not store.check_session_token(t.access_key, t.session_token.reveal() + "x")
    assert t.as_dict()["AccessKeyId"] == t.access_key
    clock.advance(899)
    assert store.lookup(t.access_key) is not None
    clock.advance(1)
    assert store.lookup(t.access_key) is None
    assert not store.check_session_token(t.access_key, t.session_token.reveal())


def test_session_bounds(store: CredentialStore) -> None:
    with pytest.raises(ConfigError, match="no role named"):
        store.issue_session("Nobody", "s")
    with pytest.raises(ValueError, match="duration"):
        store.issue_session("PetAdmin", "s", duration=7201)
    with pytest.raises(ValueError, match="session name"):
        store.issue_session("PetAdmin", "bad name")


def test_rotation_by_reload(store: CredentialStore, creds_file: Path) -> None:
    session = store.issue_session("PetAdmin", "s1")
    new_key = "AKIAEXAMPLEALICE0002"
    creds_file.write_text(FILE.replace(ALICE_KEY, new_key))
    store.reload()
    assert store.lookup(ALICE_KEY) is None
    assert store.lookup(new_key) is not None
    assert store.lookup(session.access_key) is not None  # role still exists
    creds_file.write_text(FILE.split("roles:")[0])
    store.reload()
    assert store.lookup(session.access_key) is None  # role removed: its sessions die


def test_reload_if_changed(store: CredentialStore, creds_file: Path) -> None:
    import os
    assert not store.reload_if_changed()
    creds_file.write_text(FILE.replace(ALICE_KEY, "AKIAEXAMPLEALICE0003"))
    st = creds_file.stat()
    os.utime(creds_file, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert store.reload_if_changed()
    assert store.lookup("AKIAEXAMPLEALICE0003") is not None
    assert not store.reload_if_changed()


def test_bad_reload_keeps_the_old_snapshot(store: CredentialStore, creds_file: Path) -> None:
    creds_file.write_text("users: [{name: alice, account: '12'}]")
    with pytest.raises(ConfigError) as info:
        store.reload()
    assert "users[0].account" in str(info.value)
    assert store.lookup(ALICE_KEY) is not None


@pytest.mark.parametrize(("text", "fragment"), [
    ("users: {}", "users must be a list"),
    ("users: [{name: a, account: '123456789012', access_keys: [{id: lower, secret: xxxxxxxx}]}]",
     "invalid id"),
    ("users: [{name: a, account: '123456789012', access_keys: [{id: AKIAAAAAAAAAAAAAAAAA}]}]",
     "missing secret"),
    ("users: [{name: a, account: '123456789012', policies: [{Statement: {Effect: Nope}}]}]",
     "Effect must be"),
    ("users: [{name: a, account: '123456789012', policies: [missing.json]}]",
     "cannot read policy"),
    ("roles: [{name: r, account: '123456789012', max_session_seconds: 10}]", "900..43200"),
    ("extra: 1", "unknown key"),
    ("users: [", "cannot parse credentials"),
])
def test_bad_files_are_config_errors(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        CredentialStore(path, FrozenClock())
    assert fragment in str(info.value)
    assert str(path) in str(info.value)


def test_secret_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASTION_TEST_SECRET", "from-the-environment")
    path = tmp_path / "c.json"
    path.write_text('{"users": [{"name": "bob", "account": "123456789012", "access_keys": '
                    '[{"id": "AKIAEXAMPLEBOB000001", "secret_env": "BASTION_TEST_SECRET"}]}]}')
    resolved = CredentialStore(path, FrozenClock()).resolve("AKIAEXAMPLEBOB000001")
    assert resolved is not None and resolved.secret.reveal() == "from-the-environment"


def _boto(access_key: str, secret: str, token: str | None = None) -> tuple[list[tuple[str, str]],
                                                                           float]:
    req = AWSRequest(method="GET", url="http://127.0.0.1:8080/prod/pets")
    SigV4Auth(BotoCredentials(access_key, secret, token), "execute-api", "us-east-1").add_auth(req)
    headers = [("Host", "127.0.0.1:8080"), *req.headers.items()]
    signed_at = parse_amz_date(req.headers["X-Amz-Date"])
    assert signed_at is not None
    return headers, signed_at


def test_store_as_verifier_key_resolver(creds_file: Path) -> None:
    headers, signed_at = _boto(ALICE_KEY, ALICE_SECRET)
    clock = FrozenClock(signed_at)
    store = CredentialStore(creds_file, clock)
    verifier = SigV4Verifier(store, clock)
    result = verifier.verify("GET", "/prod/pets", "", headers, b"")
    assert result.ok and isinstance(result.principal, Principal)
    assert result.principal.name == "alice"

    t = store.issue_session("PetAdmin", "ci")
    headers, _ = _boto(t.access_key, t.secret.reveal(), t.session_token.reveal())
    result = verifier.verify("GET", "/prod/pets", "", headers, b"")
    assert result.ok and result.temporary


def test_expired_session_is_refused_with_expired_token(creds_file: Path) -> None:
    _, first = _boto(ALICE_KEY, ALICE_SECRET)
    clock = FrozenClock(first - 900)
    store = CredentialStore(creds_file, clock)
    t = store.issue_session("PetAdmin", "ci", duration=900)
    headers, signed_at = _boto(t.access_key, t.secret.reveal(), t.session_token.reveal())
    clock.set(signed_at)
    expired = SigV4Verifier(store, clock).verify("GET", "/prod/pets", "", headers, b"")
    assert not expired.ok
    assert (expired.error_type, expired.message) == (
        "ExpiredTokenException", "The security token included in the request is expired")
    assert store.lookup(t.access_key) is None
