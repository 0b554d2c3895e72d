"""The RESP connection's reply reader without a server: replies split at any byte reach their
callers in order, and a reply nobody asked for drops the connection."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.state.resp import ConnectionLost, Endpoint, RespConnection, _Protocol


class _Transport:
    """Stands in for the socket (a boundary we do not own): records an abort."""

    def __init__(self) -> None:
        self.aborted = False

    def get_extra_info(self, name: str) -> None:
        return None

    def abort(self) -> None:
        self.aborted = True


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.one_of(st.binary(max_size=40), st.integers(-2**63, 2**63 - 1),
                                 st.none(), st.lists(st.binary(max_size=8), max_size=4)),
                       min_size=1, max_size=20),
       cuts=st.lists(st.integers(1, 30), max_size=40))
def test_replies_split_anywhere_reach_their_callers_in_order(
    values: list[Any], cuts: list[int]
) -> None:
    async def run() -> None:
        loop = asyncio.get_running_loop()
        conn = RespConnection(Endpoint("127.0.0.1", 1))
        proto = _Protocol(conn)
        proto.connection_made(_Transport())  # type: ignore[arg-type]
        futures = [loop.create_future() for _ in values]
        proto.waiting.extend((f, 0.0) for f in futures)
        wire = b"".join(_resp(v) for v in values)
        pos = 0
        for cut in [*cuts, len(wire)]:   # the stream in arbitrary pieces, then the rest
            proto.data_received(wire[pos:pos + cut])
            pos += cut
            if pos >= len(wire):
                break
        if pos < len(wire):
            proto.data_received(wire[pos:])
        assert [f.result() for f in futures] == values
        assert not proto.waiting

    asyncio.run(run())


def test_a_reply_nobody_asked_for_drops_the_connection() -> None:
    proto = _Protocol(RespConnection(Endpoint("127.0.0.1", 1)))
    transport = _Transport()
    proto.connection_made(transport)  # type: ignore[arg-type]
    proto.data_received(b"+OK\r\n")
    assert transport.aborted and proto.closed
    assert isinstance(proto.failure, ConnectionLost)


def _resp(value: Any) -> bytes:
    if value is None:
        return b"$-1\r\n"
    if isinstance(value, int):
        return b":%d\r\n" % value
    if isinstance(value, list):
        return b"*%d\r\n" % len(value) + b"".join(_resp(v) for v in value)
    return b"$%d\r\n%s\r\n" % (len(value), value)
