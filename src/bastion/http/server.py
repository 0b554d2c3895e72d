"""Serving: uvicorn with uvloop + httptools (the fastest stack measured on this machine).

``serve`` runs one process, or ``workers`` processes sharing the listening socket. Header
names keep the client's case (API Gateway passes them to handlers as sent), which needs a
small subclass of uvicorn's httptools protocol: ASGI itself lower-cases them. The same
subclass sends a response's head and the first part of its body in one ``send()``: uvicorn
writes them separately, which costs a system call and a TCP segment per request.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from bastion.http.app import BastionApp

__all__ = ["CasePreservingProtocol", "app_factory", "serve"]

log = logging.getLogger("bastion.server")


class HeadHoldingWriter:
    """Stands in for the transport of one connection's current request/response cycle.

    uvicorn writes the status line and headers as soon as the application starts the
    response, then each body part. This holds that head write and sends it joined with the
    next write (the body, which the gateway sends right after the head), so a plain response
    is one system call and one segment. Nothing is held past the cycle: completion, close
    and the next write all flush it, and writes before the response starts (``100 Continue``)
    go straight through.
    """

    __slots__ = ("_cycle", "_head_done", "_held", "transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self._cycle: RequestResponseCycle | None = None
        self._head_done = True
        self._held: bytes | None = None

    def start(self, cycle: RequestResponseCycle) -> None:
        """A new cycle begins: its first write after the response starts is the head."""
        self.flush()
        self._cycle = cycle
        self._head_done = False

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self.transport.write(held + data)
            return
        if not self._head_done and self._cycle is not None and self._cycle.response_started:
            self._head_done = True
            self._held = data
            return
        self.transport.write(data)

    def flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if not self.transport.is_closing():
                self.transport.write(held)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.transport.get_extra_info(name, default)


class CasePreservingProtocol(HttpToolsProtocol):
    """Records header names as sent in ``scope["bastion.header_names"]``, and sends each
    response's head with its body (``HeadHoldingWriter``)."""

    _writer: HeadHoldingWriter | None = None

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._raw_names: list[bytes] = []
        self.scope["bastion.header_names"] = self._raw_names  # type: ignore[typeddict-unknown-key]

    def on_header(self, name: bytes, value: bytes) -> None:
        # uvicorn's on_header, plus the name as sent, in one call per header instead of two
        self._raw_names.append(name)
        low = name.lower()
        if low == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((low, value))

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        writer = self._writer
        if writer is None or writer.transport is not self.transport:
            writer = self._writer = HeadHoldingWriter(self.transport)
        writer.start(cycle)
        cycle.transport = cast(asyncio.Transport, writer)
        super()._start_asgi_task(cycle, app)

    def on_response_complete(self) -> None:
        if self._writer is not None:
            self._writer.flush()
        super().on_response_complete()


_CONFIG_ENV = "BASTION_CONFIG"


def app_factory() -> BastionApp:
    """Entry point for uvicorn workers: the config path comes from the environment."""
    import os

    from bastion.gateway.gateway import load_gateway

    return BastionApp(load_gateway(Path(os.environ[_CONFIG_ENV])))


def serve(config: Path, *, host: str | None = None, port: int | None = None,
          workers: int | None = None, log_level: str = "warning",
          ssl_certfile: str | None = None, ssl_keyfile: str | None = None,
          ssl_ca_certs: str | None = None, client_cert_required: bool = False) -> None:
    """Run until SIGINT/SIGTERM; in-flight requests get ``graceful_timeout_s`` to finish."""
    import os
    import ssl

    import uvicorn

    from bastion.config import load_settings
    from bastion.gateway.gateway import load_gateway

    n = workers or load_settings(config).server.workers
    # fail fast on a bad config, before forking workers; with workers, the parent only checks
    gateway = load_gateway(config, dry_run=n > 1)
    settings = gateway.settings
    kwargs: dict[str, Any] = dict(
        host=host or settings.server.host, port=port if port is not None else settings.server.port,
        loop="uvloop", http=CasePreservingProtocol, lifespan="on", log_level=log_level,
        access_log=False, server_header=False, date_header=True, proxy_headers=False,
        timeout_graceful_shutdown=settings.server.graceful_timeout_s,
        ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile, ssl_ca_certs=ssl_ca_certs,
        ssl_cert_reqs=ssl.CERT_REQUIRED if client_cert_required else ssl.CERT_NONE,
    )
    if n > 1:
        from bastion.observe.layer import WORKERS_ENV, prepare_audit_keys

        prepare_audit_keys(settings)
        os.environ[_CONFIG_ENV] = str(config.resolve())
        os.environ[WORKERS_ENV] = str(n)
        uvicorn.run("bastion.http.server:app_factory", factory=True, workers=n, **kwargs)
    else:
        uvicorn.run(BastionApp(gateway), **kwargs)
