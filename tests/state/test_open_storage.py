from __future__ import annotations

import pytest

import bastion.state
from bastion.clock import FrozenClock
from bastion.errors import ConfigError
from bastion.state import MemoryStorage, Storage, open_storage
from bastion.state.redis import RedisStorage


def test_public_api_is_sorted_and_complete() -> None:
    names = bastion.state.__all__
    assert names == sorted(names, key=lambda n: (not n.isupper(), n))
    for name in names:
        assert hasattr(bastion.state, name)


@pytest.mark.parametrize("uri", ["", "memory://", "memory://?max_keys=10"])
async def test_memory_uris(clock: FrozenClock, uri: str) -> None:
    s = open_storage(uri, clock)
    assert isinstance(s, MemoryStorage) and isinstance(s, Storage)
    await s.close()


@pytest.mark.parametrize(
    "uri",
    [
        "redis://127.0.0.1:6379/0",
        "rediss://user:secret@cache.example:6380/2?prefix=gw:&time=server&timeout=0.2",
    ],
)
async def test_redis_uris_do_not_connect_and_do_not_leak(clock: FrozenClock, uri: str) -> None:
    s = open_storage(uri, clock)
    assert isinstance(s, RedisStorage) and isinstance(s, Storage)
    assert "secret" not in repr(s)
    await s.close()


@pytest.mark.parametrize(
    "uri",
    [
        "mongodb://x",
        "redis://h/0?time=sundial",
        "redis://h/0?timeout=-1",
        "redis://h/0?timeout=abc",
        "redis://h/0?socket_timeout=60",
        "redis://h/0?max_connections=16",   # gone: one pipelined connection per process
        "redis://h/0?max_pending=0",
        "redis://h/0?timout=1",             # a typo never loosens a bound silently
        "redis://h/0?ssl_cert_reqs=none",   # TLS options without rediss://
        "rediss://h/0?ssl_cert_reqs=optional",
        "rediss://h/0?ssl_ca_certs=/nonexistent/ca.pem",       # a config error, no traceback
        "rediss://h/0?ssl_certfile=/nonexistent/client.pem",
        "redis://h/zero",
        "redis://h:99999/0",
        "memory://?max_keys=0",
    ],
)
def test_bad_uris_are_config_errors(clock: FrozenClock, uri: str) -> None:
    with pytest.raises(ConfigError) as info:
        open_storage(uri, clock)
    assert info.value.key == "state"
