from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bastion.auth.cedar import CedarAuthorizer, CedarMapping, CedarPolicyStore, split_policies
from bastion.auth.request import AuthRequest
from bastion.errors import ConfigError, ConfigErrors

HERE = Path(__file__).parent / "cedar_petstore"
MAPPING = CedarMapping(
    namespace="PetStore",
    resources={"/pets/{petId}": ("Pet", "petId")},
    context_headers={"note": "x-note"},
    context_source_ip="sourceIp",
)


@pytest.fixture(scope="module")
def authz() -> CedarAuthorizer:
    store = CedarPolicyStore.load([HERE / "policies.cedar"], schema_file=HERE / "schema.json",
                                  entities_file=HERE / "entities.json")
    return CedarAuthorizer(store, MAPPING)


def req(method: str, pet: str, ip: str = "198.51.100.1") -> AuthRequest:
    return AuthRequest(method=method, path=f"/pets/{pet}", resource="/pets/{petId}",
                       path_params={"petId": pet}, headers=(("X-Note", "hi"),), source_ip=ip)


ALICE: dict[str, Any] = {"sub": "alice", "cognito:groups": ["users"]}
BOB: dict[str, Any] = {"sub": "bob"}
ADMIN: dict[str, Any] = {"sub": "carol", "cognito:groups": ["admin"]}


@pytest.mark.parametrize(("method", "pet", "who", "ok"), [
    ("GET", "1", ALICE, True), ("PUT", "1", ALICE, True), ("DELETE", "1", ALICE, False),
    ("GET", "2", ALICE, False), ("PUT", "2", ALICE, False),
    ("GET", "2", BOB, True), ("GET", "1", ADMIN, False),
    ("DELETE", "1", ADMIN, True), ("DELETE", "2", ADMIN, True),
])
def test_owner_get_put_admin_delete(authz: CedarAuthorizer, method: str, pet: str,
                                    who: dict[str, Any], ok: bool) -> None:
    out = authz.authorize(req(method, pet), claims=who)
    assert out.ok is ok, out.reason
    if not ok:
        assert (out.status, out.error_type, out.body()) == (
            403, "AccessDeniedException",
            {"Message": "User is not authorized to access this resource with an explicit deny"})


def test_trace_names_policy_and_position(authz: CedarAuthorizer) -> None:
    out = authz.authorize(req("GET", "1"), claims=ALICE)
    detail = [e for e in out.trace if e.event == "cedar.decision"][0].detail
    assert detail["policies"] == [f"policy0 ({HERE / 'policies.cedar'}:2 @id owner-get-put)"]
    out = authz.authorize(req("GET", "1", ip="203.0.113.7"), claims=ALICE)
    assert not out.ok and "policy2" in out.reason
    assert "policies.cedar:18 @id blocked-ip" in out.reason
    out = authz.authorize(req("GET", "2"), claims=ALICE)
    assert "default deny" in out.reason


def test_request_mapping(authz: CedarAuthorizer) -> None:
    request, ents = authz.build(req("PUT", "7"), ADMIN, None)
    assert request == {"principal": 'PetStore::User::"carol"',
                       "action": 'PetStore::Action::"put /pets/{petId}"',
                       "resource": 'PetStore::Pet::"7"',
                       "context": {"note": "hi", "sourceIp": "198.51.100.1"}}
    assert {"type": "PetStore::UserGroup", "id": "admin"} in ents[-1]["parents"]
    request, _ = authz.build(req("GET", "7"), None, "arn:aws:iam::123456789012:user/ci")
    assert request["principal"] == 'PetStore::IAMPrincipal::"arn:aws:iam::123456789012:user/ci"'


def test_no_decision_is_500(authz: CedarAuthorizer) -> None:
    bad = CedarAuthorizer(authz.store, CedarMapping(namespace="PetStore",
                                                    resources={"/pets/{petId}": ("Pet", "petId")}))
    out = bad.authorize(req("GET", "1"), claims=ALICE)  # context lacks required attributes
    assert (out.status, out.reason_code) == (500, "cedar_error")


def test_parse_error_reports_position(tmp_path: Path) -> None:
    f = tmp_path / "p.cedar"
    f.write_text('permit(principal, action, resource);\n\n// two\npermit(principal, action\n'
                 '  resource) when { "a;b" == "x" };\n')
    with pytest.raises(ConfigErrors) as e:
        CedarPolicyStore.load([f])
    assert [(x.file, x.line) for x in e.value.errors] == [(str(f), 4)]


def test_schema_error_reports_position(tmp_path: Path) -> None:
    f = tmp_path / "p.cedar"
    f.write_text((HERE / "policies.cedar").read_text()
                 + '\npermit(principal, action, resource) when { resource.color == "red" };\n')
    with pytest.raises(ConfigErrors) as e:
        CedarPolicyStore.load([f], schema_file=HERE / "schema.json")
    assert [(x.file, x.line) for x in e.value.errors] == [(str(f), 22)]
    assert "color" in e.value.errors[0].message


def test_bad_entities_rejected_at_load(tmp_path: Path) -> None:
    f = tmp_path / "e.json"
    f.write_text('[{"uid": {"type": "PetStore::Pet", "id": "9"}, "attrs": {"legs": 4}, '
                 '"parents": []}]')
    with pytest.raises(ConfigError, match="entities"):
        CedarPolicyStore.load([HERE / "policies.cedar"], schema_file=HERE / "schema.json",
                              entities_file=f)


def test_split_policies() -> None:
    text = 'permit(principal, action, resource) when { "x;y" == "\\";" }; // c;\nforbid(p,a,r);'
    chunks = split_policies(text)
    assert len(chunks) == 2 and chunks[1].line == 2


def test_entity_provider_supplies_resources(authz: CedarAuthorizer) -> None:
    """Resources not in the entities file come from a provider (e.g. a database lookup)."""
    seen: list[tuple[str, str]] = []

    def provider(etype: str, eid: str) -> dict[str, Any] | None:
        seen.append((etype, eid))
        if eid != "42":
            return None
        return {"uid": {"type": etype, "id": eid},
                "attrs": {"owner": {"__entity": {"type": "PetStore::User", "id": "bob"}}},
                "parents": []}

    a = CedarAuthorizer(authz.store, MAPPING, entity_provider=provider)
    assert a.authorize(req("PUT", "42"), claims=BOB).ok
    assert not a.authorize(req("PUT", "42"), claims=ALICE).ok
    assert seen[0] == ("PetStore::Pet", "42")
