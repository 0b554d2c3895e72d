"""A non-blocking JSON-lines writer: the request path appends, a background thread writes.

``submit`` never blocks and never does I/O: it appends ``(kind, ts, record)`` to a bounded deque
and returns. A record is a JSON-able value, or a ``str`` that is written as the line itself (an
access-log line from ``AccessLogFormatter``). When the queue is full the record is dropped and
counted (``stats().dropped``, per kind too), so overload degrades logging visibly instead of
stalling requests. A daemon thread wakes every ``flush_interval`` seconds (or early when a batch
is ready), serialises with orjson and appends to date-partitioned files::

    <dir>/<kind>/dt=YYYY-MM-DD/part-<pid>-<start>-<n>.jsonl

The partition comes from the record's own time (``ts``, epoch seconds; default: the clock at
submit), so late records land in their day. Files rotate at ``max_file_bytes`` and are closed
after ``idle_close_seconds`` without writes (the next record opens a new part), so compaction can
take idle files safely; ``close()`` drains the queue, flushes and closes every file. Write errors
(disk full, permissions) are counted in ``stats().failed`` and never reach the request path.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from bastion.clock import Clock, SystemClock

__all__ = ["LogWriter", "WriterStats"]


@dataclass(frozen=True, slots=True)
class WriterStats:
    """Counters since start; ``dropped`` is what a full queue refused."""

    submitted: int
    written: int
    dropped: int
    failed: int
    queued: int
    dropped_by_kind: dict[str, int]


class LogWriter:
    """Bounded, non-blocking log writer with one background thread.

    ``submit`` is meant for one producer thread (the event loop); the counters are plain ints,
    exact there and approximate if several threads submit at once.
    """

    def __init__(self, base_dir: str | os.PathLike[str], *, clock: Clock | None = None,
                 max_queue: int = 65536, batch: int = 2048, flush_interval: float = 0.25,
                 max_file_bytes: int = 128 * 1024 * 1024, fsync: bool = False,
                 idle_close_seconds: float = 60.0, start: bool = True) -> None:
        if max_queue <= 0 or batch <= 0:
            raise ValueError("max_queue and batch must be positive")
        self.base = Path(base_dir)
        self._clock = clock or SystemClock()
        self._q: deque[tuple[str, float, Any]] = deque()
        self._max = max_queue
        self._batch = batch
        self._interval = flush_interval
        self._max_bytes = max_file_bytes
        self._fsync = fsync
        self._wake = threading.Event()
        self._stop = False
        self._submitted = self._written = self._dropped = self._failed = 0
        self._dropped_by_kind: dict[str, int] = {}
        self._files: dict[tuple[str, str], tuple[IO[bytes], int, float]] = {}
        self._idle_close = idle_close_seconds
        self._seq = 0
        self._started = f"{int(time.time())}"
        self._io_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        if start:
            self.start()

    # -- request path ---------------------------------------------------------------------

    def submit(self, kind: str, record: Any, ts: float | None = None) -> bool:
        """Queue one record; False (and counted) when the queue is full or closed."""
        self._submitted += 1
        q = self._q
        if len(q) >= self._max or self._stop:
            self._dropped += 1
            self._dropped_by_kind[kind] = self._dropped_by_kind.get(kind, 0) + 1
            return False
        q.append((kind, self._clock.time() if ts is None else ts, record))
        if len(q) == self._batch:
            self._wake.set()
        return True

    def stats(self) -> WriterStats:
        return WriterStats(self._submitted, self._written, self._dropped, self._failed,
                           len(self._q), dict(self._dropped_by_kind))

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="bastion-log-writer",
                                            daemon=True)
            self._thread.start()

    def flush(self) -> None:
        """Write everything queued so far (from the caller's thread) and flush files."""
        self._drain()

    def close(self) -> None:
        """Stop accepting, drain the queue, close every file. Idempotent."""
        self._stop = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._drain()
        with self._io_lock:
            for f, _, _ in self._files.values():
                f.close()
            self._files.clear()

    def __enter__(self) -> LogWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- background -----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop:
            self._wake.wait(self._interval)
            self._wake.clear()
            self._drain()

    def _drain(self) -> None:
        with self._io_lock:
            q = self._q
            touched: set[tuple[str, str]] = set()
            days: dict[int, str] = {}
            dumps, opt = orjson.dumps, orjson.OPT_APPEND_NEWLINE
            written = failed = 0
            while q:
                kind, ts, record = q.popleft()
                try:
                    if isinstance(record, str):   # an already formatted line (access log)
                        line = record.replace("\n", " ").encode() + b"\n"
                    else:
                        line = dumps(record, option=opt)
                    d = int(ts // 86400)
                    day = days.get(d)
                    if day is None:
                        day = days[d] = time.strftime("%Y-%m-%d", time.gmtime(d * 86400))
                    key = (kind, day)
                    self._write(key, line)
                    touched.add(key)
                    written += 1
                except (OSError, TypeError, ValueError):
                    failed += 1
            self._written += written
            self._failed += failed
            now = time.monotonic()
            for key in touched:
                entry = self._files.get(key)
                if entry is None:
                    continue
                self._files[key] = (entry[0], entry[1], now)   # last write, for idle closing
                try:
                    entry[0].flush()
                    if self._fsync:
                        os.fsync(entry[0].fileno())
                except OSError:
                    self._failed += 1
            self._close_idle()

    def _write(self, key: tuple[str, str], line: bytes) -> None:
        entry = self._files.get(key)
        if entry is None or entry[1] + len(line) > self._max_bytes:
            if entry is not None:
                entry[0].close()
            d = self.base / key[0] / f"dt={key[1]}"
            d.mkdir(parents=True, exist_ok=True)
            self._seq += 1
            fh: IO[bytes] = open(  # kept open across batches; closed in close()
                d / f"part-{os.getpid()}-{self._started}-{self._seq:06d}.jsonl", "ab")
            entry = (fh, 0, 0.0)
        f, size, last = entry
        f.write(line)
        self._files[key] = (f, size + len(line), last)

    def _close_idle(self) -> None:
        """Close files idle for ``idle_close_seconds`` so compaction can take them safely."""
        cutoff = time.monotonic() - self._idle_close
        for key in [k for k, (_, _, last) in self._files.items() if last < cutoff]:
            self._files.pop(key)[0].close()
