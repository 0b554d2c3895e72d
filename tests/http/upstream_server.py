"""A real HTTP/1.1 origin on loopback for proxy tests: echo, slow, stream, big, close, chunked."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field


@dataclass
class Origin:
    server: asyncio.Server
    port: int
    connections: int = 0
    finished: int = 0   # connections whose handler ended (the peer closed, or an error)
    requests: list[dict[str, object]] = field(default_factory=list)

    def close(self) -> None:
        self.server.close()


async def _read_request(reader: asyncio.StreamReader) -> dict[str, object] | None:
    line = await reader.readline()
    if not line:
        return None
    method, target, _ = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    headers: list[tuple[str, str]] = []
    while True:
        h = await reader.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        name, _, value = h.decode("latin-1").rstrip("\r\n").partition(":")
        headers.append((name, value.strip()))
    length = int(next((v for k, v in headers if k.lower() == "content-length"), "0"))
    body = await reader.readexactly(length) if length else b""
    return {"method": method, "target": target, "headers": headers, "body": body.decode()}


async def start_origin() -> Origin:
    origin: Origin

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        origin.connections += 1
        try:
            while True:
                req = await _read_request(reader)
                if req is None:
                    return
                origin.requests.append(req)
                target = str(req["target"])
                if target.startswith("/slow"):
                    await asyncio.sleep(5)
                if target.startswith("/close"):
                    writer.close()
                    return
                if target.startswith("/big"):   # 64 MiB, only as fast as it is taken
                    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                    chunk = b"x" * 65536
                    for _ in range(1024):
                        writer.write(b"10000\r\n" + chunk + b"\r\n")
                        await writer.drain()
                    writer.write(b"0\r\n\r\n")
                    await writer.drain()
                    continue
                if target.startswith("/stream"):
                    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                                 b"Content-Type: text/plain\r\nX-Up: 1\r\n\r\n")
                    for i in range(50):
                        chunk = (f"line {i}\n" * 200).encode()
                        writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                        await writer.drain()
                        await asyncio.sleep(0)
                    writer.write(b"0\r\n\r\n")
                    await writer.drain()
                    continue
                body = json.dumps(req).encode()
                status = "404 Not Found" if target.startswith("/missing") else "200 OK"
                writer.write(
                    f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n"
                    f"Keep-Alive: timeout=5\r\nX-Origin: yes\r\n\r\n".encode() + body)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            origin.finished += 1
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    origin = Origin(server, port)
    return origin
