"""Serving: uvicorn with uvloop + httptools (the fastest stack measured on this machine).

``serve`` runs one process, or ``workers`` processes sharing the listening socket. Header
names keep the client's case (API Gateway passes them to handlers as sent), which needs a
small subclass of uvicorn's httptools protocol: ASGI itself lower-cases them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from bastion.http.app import BastionApp

__all__ = ["CasePreservingProtocol", "app_factory", "serve"]

log = logging.getLogger("bastion.server")


class CasePreservingProtocol(HttpToolsProtocol):
    """Records header names as sent in ``scope["bastion.header_names"]``."""

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._raw_names: list[bytes] = []
        self.scope["bastion.header_names"] = self._raw_names  # type: ignore[typeddict-unknown-key]

    def on_header(self, name: bytes, value: bytes) -> None:
        self._raw_names.append(bytes(name))
        super().on_header(name, value)


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
