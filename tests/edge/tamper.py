"""A tiny TCP relay on loopback that can rewrite bytes on their way to the origin: the
"someone between the edge and the gateway" of the tampering tests."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class _Relay(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.server.target), timeout=10)
        client = self.request
        client.settimeout(10)

        def back() -> None:
            try:
                while data := upstream.recv(65536):
                    client.sendall(data)
            except OSError:
                pass
            finally:
                client.close()
        t = threading.Thread(target=back, daemon=True)
        t.start()
        try:
            while data := client.recv(65536):
                for old, new in self.server.rewrites:
                    data = data.replace(old, new)
                upstream.sendall(data)
        except OSError:
            pass
        finally:
            upstream.close()
            t.join(timeout=10)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, target: int, rewrites: list[tuple[bytes, bytes]]) -> None:
        super().__init__(("127.0.0.1", 0), _Relay)
        self.target = target
        self.rewrites = rewrites


@contextmanager
def tampering_relay(target: int, rewrites: list[tuple[bytes, bytes]]) -> Iterator[int]:
    """Yield the port of a relay to ``127.0.0.1:target`` applying ``rewrites`` upstream."""
    server = _Server(target, rewrites)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
