"""Route matching: literal beats {param} beats {proxy+}; greedy keeps inner slashes."""

from __future__ import annotations

import pytest

from bastion.errors import ConfigError
from bastion.gateway.routing import Router

ROUTES = [
    ("GET", "/", "root"),
    ("GET", "/pets", "list"),
    ("POST", "/pets", "create"),
    ("GET", "/pets/{petId}", "get"),
    ("GET", "/pets/mine", "mine"),
    ("GET", "/pets/{petId}/photos/{photoId}", "photo"),
    ("ANY", "/files/{proxy+}", "files"),
    ("GET", "/{proxy+}", "catchall"),
]


@pytest.mark.parametrize(("method", "path", "target", "template", "params"), [
    ("GET", "/", "root", "/", {}),
    ("GET", "/pets", "list", "/pets", {}),
    ("GET", "/pets/", "list", "/pets", {}),
    ("POST", "/pets", "create", "/pets", {}),
    ("GET", "/pets/7", "get", "/pets/{petId}", {"petId": "7"}),
    ("GET", "/pets/mine", "mine", "/pets/mine", {}),
    ("GET", "/pets/a%20b", "get", "/pets/{petId}", {"petId": "a%20b"}),
    ("GET", "/pets/1/photos/2", "photo", "/pets/{petId}/photos/{photoId}",
     {"petId": "1", "photoId": "2"}),
    ("DELETE", "/files/a/b//c/", "files", "/files/{proxy+}", {"proxy": "a/b//c"}),
    ("GET", "/files/x", "files", "/files/{proxy+}", {"proxy": "x"}),
    ("GET", "/anything/else", "catchall", "/{proxy+}", {"proxy": "anything/else"}),
    ("GET", "/pets/1/unknown", "catchall", "/{proxy+}", {"proxy": "pets/1/unknown"}),
    ("GET", "//pets", "list", "/pets", {}),
])
def test_match(method: str, path: str, target: str, template: str,
               params: dict[str, str]) -> None:
    m = Router(ROUTES).match(method, path)
    assert m is not None
    assert (m.target, m.template, m.params) == (target, template, params)


@pytest.mark.parametrize(("method", "path"), [
    ("DELETE", "/pets"), ("PUT", "/pets/7"), ("POST", "/"),
])
def test_miss(method: str, path: str) -> None:
    router = Router([r for r in ROUTES if r[1] != "/{proxy+}"])
    assert router.match(method, path) is None


def test_greedy_does_not_match_its_own_root() -> None:
    assert Router([("GET", "/files/{proxy+}", "f")]).match("GET", "/files") is None


@pytest.mark.parametrize(("routes", "message"), [
    ([("GET", "/a/{x}", 1), ("GET", "/a/{y}/b", 2)], "conflicting path parameters"),
    ([("GET", "/a/{p+}/b", 1)], "must be the last segment"),
    ([("GET", "/a", 1), ("GET", "/a", 2)], "duplicate operation GET /a"),
])
def test_conflicts_are_config_errors(routes: list[tuple[str, str, int]], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Router(routes)
