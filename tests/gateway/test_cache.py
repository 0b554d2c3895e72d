"""The stage response cache: keys, TTL, invalidation rights, size limit, hit/miss."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bastion.clock import FrozenClock
from bastion.errors import ConfigError
from bastion.gateway.cache import cache_layer
from tests.helpers import GatewayFactory, Reply, call, op

PATHS = {"/pets/{petId}": {"get": op("echo")}, "/pets": {"get": op("echo"),
                                                         "post": op("echo")}}


def get(app: Any, path: str, query: str = "", headers: list[tuple[str, str]] | None = None
        ) -> Reply:
    return asyncio.run(call(app, "GET", path, query=query, headers=headers))


def rid(reply: Reply) -> str:
    return str(reply.json()["event"]["requestContext"]["requestId"])


def test_hit_until_ttl_expires(gateway_for: GatewayFactory, clock: FrozenClock) -> None:
    _, app = gateway_for(PATHS, layers=[cache_layer], cache={"ttl": 60})
    first = get(app, "/prod/pets")
    second = get(app, "/prod/pets")
    assert rid(first) == rid(second)  # served from the cache: the handler ran once
    assert second.header("X-Cache") == "Hit from bastion"
    clock.advance(61)
    assert rid(get(app, "/prod/pets")) != rid(first)


def test_undeclared_parameters_share_an_entry_as_on_aws(gateway_for: GatewayFactory) -> None:
    _, app = gateway_for(PATHS, layers=[cache_layer], cache={})
    a = get(app, "/prod/pets/1")
    b = get(app, "/prod/pets/2")
    assert rid(a) == rid(b)


def test_declared_key_parameters_partition_the_cache(gateway_for: GatewayFactory) -> None:
    _, app = gateway_for(PATHS, layers=[cache_layer], cache={"methods": {
        "/pets/{petId}/GET": {"key_parameters": ["method.request.path.petId"]},
        "/pets/GET": {"key_parameters": ["method.request.querystring.type",
                                         "method.request.header.Accept"]}}})
    assert rid(get(app, "/prod/pets/1")) != rid(get(app, "/prod/pets/2"))
    assert rid(get(app, "/prod/pets/1")) == rid(get(app, "/prod/pets/1"))
    x = get(app, "/prod/pets", "type=dog")
    assert rid(x) == rid(get(app, "/prod/pets", "type=dog&other=1"))
    assert rid(x) != rid(get(app, "/prod/pets", "type=cat"))
    assert rid(x) != rid(get(app, "/prod/pets", "type=dog", [("Accept", "text/html")]))


def test_cache_key_parameters_from_the_integration(gateway_for: GatewayFactory) -> None:
    paths = {"/pets/{petId}": {"get": op("echo", cacheKeyParameters=[
        "method.request.path.petId"])}}
    _, app = gateway_for(paths, layers=[cache_layer], cache={})
    assert rid(get(app, "/prod/pets/1")) != rid(get(app, "/prod/pets/2"))


def test_only_get_is_cached_by_default(gateway_for: GatewayFactory) -> None:
    _, app = gateway_for(PATHS, layers=[cache_layer], cache={})
    a = asyncio.run(call(app, "POST", "/prod/pets", body=b"{}"))
    b = asyncio.run(call(app, "POST", "/prod/pets", body=b"{}"))
    assert rid(a) != rid(b)


def test_max_age_0_without_permission_is_ignored_with_a_warning(
        gateway_for: GatewayFactory) -> None:
    _, app = gateway_for(PATHS, layers=[cache_layer], cache={})
    first = get(app, "/prod/pets")
    again = get(app, "/prod/pets", headers=[("Cache-Control", "max-age=0")])
    assert rid(first) == rid(again)
    assert again.header("Warning") is not None


def test_max_age_0_fail_with_403(gateway_for: GatewayFactory) -> None:
    _, app = gateway_for(PATHS, layers=[cache_layer],
                         cache={"unauthorized_handling": "FAIL_WITH_403"})
    reply = get(app, "/prod/pets", headers=[("Cache-Control", "max-age=0")])
    assert reply.status == 403


def test_max_age_0_invalidates_when_authorisation_is_not_required(
        gateway_for: GatewayFactory) -> None:
    _, app = gateway_for(PATHS, layers=[cache_layer], cache={"require_authorization": False})
    first = get(app, "/prod/pets")
    fresh = get(app, "/prod/pets", headers=[("Cache-Control", "max-age=0")])
    assert rid(first) != rid(fresh)
    assert rid(get(app, "/prod/pets")) == rid(fresh)  # the fresh answer was stored


def test_responses_over_the_size_limit_are_not_cached(gateway_for: GatewayFactory) -> None:
    _, app = gateway_for(PATHS, layers=[cache_layer], cache={"max_entry_bytes": 100})
    assert rid(get(app, "/prod/pets")) != rid(get(app, "/prod/pets"))


def test_ttl_over_3600_is_refused(gateway_for: GatewayFactory) -> None:
    with pytest.raises(ConfigError, match="cache.ttl: must be 0-3600"):
        gateway_for(PATHS, layers=[cache_layer], cache={"ttl": 7200})


def test_unknown_method_key_is_refused(gateway_for: GatewayFactory) -> None:
    with pytest.raises(ConfigError, match="no such route"):
        gateway_for(PATHS, layers=[cache_layer], cache={"methods": {"/nope/GET": {}}})
