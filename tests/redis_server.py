"""A real redis-server for tests and benchmarks: started on a free loopback port with persistence
off, readiness read from its own log (no polling, no sleeping), stopped or killed by PID.

Other layers' e2e tests can reuse it: ``RedisServer.start()`` / ``.kill()`` / ``.stop()``.
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from typing import IO

__all__ = ["RedisServer", "free_port", "redis_binary"]


def redis_binary() -> str | None:
    return shutil.which("redis-server")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """One redis-server process; ``start`` again after ``kill`` to restart on the same port."""

    def __init__(self, binary: str, port: int | None = None, *, args: tuple[str, ...] = (),
                 tls_port: int | None = None) -> None:
        """``args``: more redis-server options (``--requirepass``, ``--tls-cert-file``...);
        with ``tls_port`` the server also listens for TLS there."""
        self.binary = binary
        self.port = port or free_port()
        self.tls_port = tls_port
        self.args = args
        self._dir = tempfile.TemporaryDirectory(prefix="bastion-redis-")
        self.proc: subprocess.Popen[bytes] | None = None
        self._drainer: threading.Thread | None = None

    @property
    def uri(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, ready_timeout: float = 10.0) -> RedisServer:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--daemonize", "no",
                "--loglevel", "notice",
                "--logfile", "",
                "--dir", self._dir.name,
                *(("--tls-port", str(self.tls_port)) if self.tls_port else ()),
                *self.args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert self.proc.stdout is not None
        out = self.proc.stdout
        log = b""
        deadline = time.monotonic() + ready_timeout
        with selectors.DefaultSelector() as sel:
            sel.register(out, selectors.EVENT_READ)
            while b"Ready to accept connections" not in log:
                left = deadline - time.monotonic()
                chunk = os.read(out.fileno(), 65536) if left > 0 and sel.select(left) else b""
                if not chunk:
                    self.kill()
                    out.close()
                    raise RuntimeError(f"redis-server did not start: {log[-500:]!r}")
                log += chunk
        # keep draining so a chatty server never blocks on a full pipe
        # keep draining so a chatty server never blocks on a full pipe; the drainer owns the
        # pipe from here on and closes it at EOF (when the server exits)
        self._drainer = threading.Thread(target=self._drain, args=(out,), daemon=True)
        self._drainer.start()
        return self

    @staticmethod
    def _drain(out: IO[bytes]) -> None:
        try:
            while os.read(out.fileno(), 65536):
                pass
        except OSError:
            pass
        finally:
            out.close()

    def _reap(self) -> None:
        if self._drainer is not None:
            self._drainer.join(timeout=10)
            self._drainer = None

    def kill(self) -> None:
        """SIGKILL by PID: the crash a failure test wants."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._reap()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reap()

    def cleanup(self) -> None:
        self.stop()
        self._dir.cleanup()
