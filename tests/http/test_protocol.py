"""Bastion's HTTP/1.1 protocol on a real loopback socket: framing, limits while parsing,
keep-alive, pipelining, 100-continue, streamed answers and response splitting."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState

from bastion.http.protocol import GatewayProtocol
from tests.helpers import GatewayFactory
from tests.http.test_proxy import proxy
from tests.http.upstream_server import start_origin

ECHO = {"x-amazon-apigateway-integration": {"type": "aws_proxy",
                                            "uri": "tests.gateway.handlers:echo"}}
RETURNS = {"x-amazon-apigateway-integration": {"type": "aws_proxy",
                                               "uri": "tests.gateway.handlers:returns"}}
LIMITS = {"max_body_bytes": 200, "max_headers": 8, "max_header_bytes": 512}

Reply = tuple[int, dict[str, str], bytes]
Scenario = Callable[[int], Awaitable[None]]


@asynccontextmanager
async def serving(gateway_for: GatewayFactory, paths: dict[str, Any], *,
                  idle_timeout: float = 5.0, state: ServerState | None = None,
                  **settings: Any) -> AsyncIterator[int]:
    """The gateway behind ``GatewayProtocol`` on 127.0.0.1; yields the port."""
    _, app = gateway_for(paths, limits=LIMITS, **settings)
    config = Config(app, proxy_headers=False, timeout_keep_alive=idle_timeout,
                    log_level="warning")
    config.load()
    state = state or ServerState()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: GatewayProtocol(config, state, {}, loop),
                                      "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for conn in list(state.connections):
            conn.shutdown()
        await server.wait_closed()


async def read_reply(reader: asyncio.StreamReader) -> Reply:
    """One response: status, lower-case headers, body (by length, chunks or EOF)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if status == 100 or status in (204, 304):
        return status, headers, b""
    if "content-length" in headers:
        body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 5)
    elif headers.get("transfer-encoding") == "chunked":
        parts = []
        while True:
            size = int((await asyncio.wait_for(reader.readline(), 5)).strip(), 16)
            chunk = await asyncio.wait_for(reader.readexactly(size + 2), 5)
            if size == 0:
                break
            parts.append(chunk[:-2])
        body = b"".join(parts)
    else:
        body = await asyncio.wait_for(reader.read(), 5)
    return status, headers, body


async def closed(reader: asyncio.StreamReader) -> bool:
    """Whether the server closed the connection (EOF, within a bounded wait)."""
    return await asyncio.wait_for(reader.read(), 5) == b""


def run(gateway_for: GatewayFactory, paths: dict[str, Any], scenario: Scenario,
        **kw: Any) -> None:
    async def main() -> None:
        async with serving(gateway_for, paths, **kw) as port:
            await scenario(port)
    asyncio.run(main())


def get(path: str, *extra: str, version: str = "1.1") -> bytes:
    lines = [f"GET {path} HTTP/{version}", "Host: t", *extra, "", ""]
    return "\r\n".join(lines).encode()


def test_pipelined_requests_are_answered_in_order_on_one_connection(
        gateway_for: GatewayFactory) -> None:
    async def scenario(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"".join(get(f"/prod/echo?n={i}") for i in range(5)))
        for i in range(5):
            status, headers, body = await read_reply(reader)
            assert status == 200 and "connection" not in headers
            assert json.loads(body)["event"]["queryStringParameters"] == {"n": str(i)}
        writer.write(get("/prod/echo?n=again"))          # the connection stays open
        assert (await read_reply(reader))[0] == 200
        writer.close()
    run(gateway_for, {"/echo": {"get": ECHO}}, scenario)


def test_a_half_closed_client_still_gets_its_answers(gateway_for: GatewayFactory) -> None:
    async def scenario(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(get("/prod/echo?n=1") + get("/prod/echo?n=2"))
        writer.write_eof()
        for n in ("1", "2"):
            status, _, body = await read_reply(reader)
            assert status == 200
            assert json.loads(body)["event"]["queryStringParameters"] == {"n": n}
        assert await closed(reader)
        writer.close()
    run(gateway_for, {"/echo": {"get": ECHO}}, scenario)


def test_http_1_0_and_connection_close_end_the_connection(gateway_for: GatewayFactory) -> None:
    async def scenario(port: int) -> None:
        for request in (get("/prod/echo", version="1.0"), get("/prod/echo", "Connection: close")):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            status, headers, _ = await read_reply(reader)
            assert status == 200 and headers["connection"] == "close"
            assert await closed(reader)
            writer.close()
    run(gateway_for, {"/echo": {"get": ECHO}}, scenario)


def test_head_answer_has_the_length_and_no_body(gateway_for: GatewayFactory) -> None:
    async def scenario(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"HEAD /prod/echo HTTP/1.1\r\nHost: t\r\n\r\n" + get("/prod/echo"))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200 ") and b"\r\nContent-Length: " in head
        # the next bytes are the second answer, not a body of the first
        status2, _, body2 = await read_reply(reader)
        assert status2 == 200 and json.loads(body2)["event"]["httpMethod"] == "GET"
        writer.close()
    run(gateway_for, {"/echo": {"x-amazon-apigateway-any-method": ECHO}}, scenario)


def test_expect_100_continue_is_answered_before_the_body(gateway_for: GatewayFactory) -> None:
    async def scenario(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /prod/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        assert (await read_reply(reader))[0] == 100
        writer.write(b"hello")
        status, _, body = await read_reply(reader)
        assert status == 200 and json.loads(body)["event"]["body"] == "hello"
        writer.close()
    run(gateway_for, {"/echo": {"post": ECHO}}, scenario)


def test_declared_body_over_the_limit_is_413_before_it_is_read(
        gateway_for: GatewayFactory) -> None:
    async def scenario(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /prod/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        status, headers, body = await read_reply(reader)   # no 100 Continue first
        assert (status, body) == (413, b"HTTP content length exceeded 200 bytes.")
        assert headers["connection"] == "close" and await closed(reader)
        writer.close()
    run(gateway_for, {"/echo": {"post": ECHO}}, scenario)


def test_chunked_body_over_the_limit_is_413(gateway_for: GatewayFactory) -> None:
    async def scenario(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /prod/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                     + b"80\r\n" + b"x" * 128 + b"\r\n" + b"60\r\n" + b"y" * 96 + b"\r\n")
        status, _, body = await read_reply(reader)
        assert (status, body) == (413, b"HTTP content length exceeded 200 bytes.")
        assert await closed(reader)
        writer.close()
    run(gateway_for, {"/echo": {"post": ECHO}}, scenario)


def test_header_and_target_limits_hold_while_parsing(gateway_for: GatewayFactory) -> None:
    cases = [
        (get("/prod/echo", *(f"X-H{i}: v" for i in range(10))), 431),   # 11 fields > 8
        (get("/prod/echo", "X-Big: " + "v" * 600), 431),                # bytes > 512
        (get("/prod/echo?q=" + "a" * 600), 414),                        # target > 512
        (b"GET /prod/echo HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n", 400),
        # request smuggling: both framings
        (b"POST /prod/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
         b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ]

    async def scenario(port: int) -> None:
        for request, expected in cases:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            status, headers, _ = await read_reply(reader)
            assert status == expected, request[:60]
            assert headers["connection"] == "close" and await closed(reader)
            writer.close()
    run(gateway_for, {"/echo": {"x-amazon-apigateway-any-method": ECHO}}, scenario)


SMUGGLING = {   # framing two parsers could read differently: all refused, never guessed
    "Content-Length and Transfer-Encoding": b"Content-Length: 4\r\nTransfer-Encoding: chunked",
    "two Content-Lengths": b"Content-Length: 5\r\nContent-Length: 6",
    "Content-Length with a sign": b"Content-Length: +5",
    "space before the colon": b"Content-Length : 5",
    "chunked not last": b"Transfer-Encoding: chunked, identity",
    "unknown coding": b"Transfer-Encoding: xchunked",
    "obsolete line folding": b"X-A: a\r\n b",
}


def test_request_smuggling_framings_are_refused_and_close(gateway_for: GatewayFactory) -> None:
    async def scenario(port: int) -> None:
        for name, fields in SMUGGLING.items():
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"POST /prod/echo HTTP/1.1\r\nHost: t\r\n" + fields
                         + b"\r\n\r\nhello0\r\n\r\n")
            status, headers, _ = await read_reply(reader)
            assert status == 400, name
            assert headers["connection"] == "close" and await closed(reader)
            writer.close()
    run(gateway_for, {"/echo": {"post": ECHO}}, scenario)


def test_an_answer_behind_a_refused_pipelined_request_keeps_its_order(
        gateway_for: GatewayFactory) -> None:
    async def scenario(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(get("/prod/echo?n=1") + b"NOT HTTP\r\n\r\n")
        assert (await read_reply(reader))[0] == 200
        assert (await read_reply(reader))[0] == 400
        assert await closed(reader)
        writer.close()
    run(gateway_for, {"/echo": {"get": ECHO}}, scenario)


def test_response_splitting_header_never_reaches_the_wire(gateway_for: GatewayFactory) -> None:
    evil = [{"X-Evil": "a\r\nSet-Cookie: session=attacker"},
            {"X-Evil\r\nSet-Cookie: session=attacker\r\nX": "a"}]

    async def scenario(port: int) -> None:
        for headers in evil:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            payload = json.dumps({"statusCode": 200, "body": "hi", "headers": headers}).encode()
            writer.write(b"POST /prod/r HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%b"
                         % (len(payload), payload))
            status, got, body = await read_reply(reader)
            assert (status, body) == (500, b"Internal Server Error")
            assert "set-cookie" not in got and await closed(reader)
            writer.close()
    run(gateway_for, {"/r": {"post": RETURNS}}, scenario)


def test_idle_connections_are_closed(gateway_for: GatewayFactory) -> None:
    async def scenario(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(get("/prod/echo"))
        assert (await read_reply(reader))[0] == 200
        assert await closed(reader)     # no second request: closed after the idle timeout
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await closed(reader)     # never a first request: closed the same way
        writer.close()
    run(gateway_for, {"/echo": {"get": ECHO}}, scenario, idle_timeout=0.05)


def test_streamed_upstream_body_is_chunked_to_the_client(gateway_for: GatewayFactory) -> None:
    async def main() -> None:
        origin = await start_origin()
        try:
            paths = {"/s": {"get": proxy(f"http://127.0.0.1:{origin.port}/stream")}}
            async with serving(gateway_for, paths) as port:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(get("/prod/s") + get("/prod/s"))
                expected = b"".join((f"line {i}\n" * 200).encode() for i in range(50))
                for _ in range(2):          # both answers whole, framed, in order
                    status, headers, body = await read_reply(reader)
                    assert status == 200 and body == expected
                    assert headers.get("transfer-encoding") == "chunked"
                writer.close()
        finally:
            origin.close()
    asyncio.run(main())


def test_a_request_arriving_too_slowly_is_408(gateway_for: GatewayFactory) -> None:
    async def main() -> None:
        async with serving(gateway_for, {"/echo": {"post": ECHO}}, idle_timeout=0.02,
                           server={"client_timeout_s": 0.05}) as port:
            for partial in (b"GET /prod/echo HTTP/1.1\r\nHost: t\r\nX-Slow: ",      # headers
                            b"POST /prod/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 9\r\n"
                            b"\r\nabc"):                                          # body
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(partial)      # and nothing more: the watchdog answers
                status, headers, body = await read_reply(reader)
                assert (status, body) == (408, b"Request Timeout")
                assert headers["connection"] == "close" and await closed(reader)
                writer.close()
    asyncio.run(main())


def test_mangled_requests_get_an_answer_or_a_close_and_the_server_stays_up(
        gateway_for: GatewayFactory) -> None:
    rng = random.Random(20261126)
    valid = [get("/prod/echo?a=1"),
             b"POST /prod/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
             b"POST /prod/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"5\r\nhello\r\n0\r\n\r\n"]
    noise = [b"\r\n", b"\n", b"\x00", b":", b" ", b"\xff", b"Content-Length: -1\r\n",
             b"Transfer-Encoding: chunked\r\n", b"%", b"HTTP/1.1", b"\t"]

    def mangle(data: bytes) -> bytes:
        out = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(out) + 1)
            choice = rng.random()
            if choice < 0.4:
                out[at:at] = rng.choice(noise)
            elif choice < 0.7 and len(out) > 1:
                del out[at:at + rng.randint(1, 8)]
            else:
                out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 6)))
        return bytes(out)

    async def scenario(port: int) -> None:
        for _ in range(150):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            data = mangle(rng.choice(valid))
            cut = rng.randrange(len(data) + 1)   # in two writes, split anywhere
            writer.write(data[:cut])
            await writer.drain()
            writer.write(data[cut:])
            writer.write_eof()
            answer = await asyncio.wait_for(reader.read(), 5)   # a reply, or just a close
            if answer:
                assert answer.startswith(b"HTTP/1.1 ") and b"\r\n\r\n" in answer
                assert int(answer[9:12]) in (200, 400, 403, 404, 405, 408, 413, 414, 431)
            writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(get("/prod/echo?after=mangling"))
        assert (await read_reply(reader))[0] == 200
        writer.close()
    run(gateway_for, {"/echo": {"x-amazon-apigateway-any-method": ECHO}}, scenario,
        idle_timeout=0.05)


def test_a_client_that_stops_reading_is_dropped_and_its_upstream_closed(
        gateway_for: GatewayFactory) -> None:
    async def main() -> None:
        origin = await start_origin()
        state = ServerState()
        try:
            paths = {"/big": {"get": proxy(f"http://127.0.0.1:{origin.port}/big")}}
            async with serving(gateway_for, paths, idle_timeout=0.02, state=state,
                               server={"client_timeout_s": 0.05}) as port:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(get("/prod/big"))
                await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)

                async def dropped() -> None:   # read nothing more until the server lets go
                    while state.connections:
                        await asyncio.sleep(0.01)
                await asyncio.wait_for(dropped(), 5)
                received = 0
                try:
                    while chunk := await asyncio.wait_for(reader.read(1 << 20), 5):
                        received += len(chunk)
                except ConnectionResetError:
                    pass
                assert received < 64 * 65536     # the answer was cut, not waited for
                writer.close()

                async def upstream_closed() -> None:   # not left open mid-body (a leak)
                    while origin.finished < 1:
                        await asyncio.sleep(0.01)
                await asyncio.wait_for(upstream_closed(), 5)
        finally:
            origin.close()
    asyncio.run(main())
