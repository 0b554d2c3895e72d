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

Rendering can be deferred too: ``add_renderer(kind, outputs, render)`` makes records of ``kind``
raw captures that the writer thread turns into one line per output kind (``render(record)``
returns a sequence aligned with ``outputs``, ``None`` for a line it failed to make, ``b""``
for one it chose not to write). The request
path then only appends a tuple of references; the JSON is built off it, in batches. Counters
are per output line (one such record submitted is ``len(outputs)`` submitted or dropped), and a
batch's lines for one file go out in one write (rendered lines after any plain records of the
same kind and day in that batch). A renderer may also take a whole batch (``batch=``).

Lines rendered elsewhere come in through ``add_source``: an object whose ``take()`` hands over
what it buffered as ``(output index, day, lines, count)`` chunks (``bastion.observe.native``,
the C renderer of the request path). The writer drains it with its queue and counts its lines
in the same stats.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

from bastion.clock import Clock, SystemClock

if TYPE_CHECKING:
    from bastion.observe.native import LineSource

__all__ = ["BatchRenderer", "LogWriter", "Renderer", "WriterStats"]

log = logging.getLogger("bastion.observe.writer")

Renderer = Callable[[Any], Sequence[bytes | None]]
# records -> one list of lines per output kind, each aligned with the records (None: failed)
BatchRenderer = Callable[[list[Any]], Sequence[list[bytes | None]]]


@dataclass(frozen=True, slots=True)
class WriterStats:
    """Counters since start; ``dropped`` is what a full queue refused."""

    submitted: int
    written: int
    dropped: int
    failed: int
    queued: int
    dropped_by_kind: dict[str, int]
    filtered: int = 0   # lines a renderer chose not to write (AWS WAF's logging filter)


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
        self._submitted = self._written = self._dropped = self._failed = self._filtered = 0
        self._dropped_by_kind: dict[str, int] = {}
        self._files: dict[tuple[str, str], tuple[IO[bytes], int, float]] = {}
        self._idle_close = idle_close_seconds
        self._seq = 0
        self._started = f"{int(time.time())}"
        self._io_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._renderers: dict[str, tuple[tuple[str, ...], Renderer, BatchRenderer | None]] = {}
        self._render_errors = 0
        self._sources: list[tuple[tuple[str, ...], LineSource]] = []
        if start:
            self.start()

    def add_renderer(self, kind: str, outputs: Sequence[str], render: Renderer, *,
                     batch: BatchRenderer | None = None) -> None:
        """Records of ``kind`` are rendered by ``render`` in the writer thread into one line
        (bytes ending in a newline, or None on failure) per kind of ``outputs``.

        ``batch``, if given, renders a whole drained run of such records at once (the same
        lines as ``render`` one by one): per-record dispatch is a measurable share of a
        line's cost. ``render`` remains the fallback when ``batch`` itself raises."""
        if not outputs:
            raise ValueError("a renderer needs at least one output kind")
        self._renderers[kind] = (tuple(outputs), render, batch)

    def add_source(self, outputs: Sequence[str], source: LineSource) -> None:
        """Also drain ``source`` (a ``bastion.observe.native.LineSource``): its chunks are
        whole lines of ``outputs[index]``, written with the queue's lines of that kind and
        day; its counters join ``stats()``."""
        self._sources.append((tuple(outputs), source))

    # -- request path ---------------------------------------------------------------------

    def submit(self, kind: str, record: Any, ts: float | None = None) -> bool:
        """Queue one record; False (and counted) when the queue is full or closed."""
        r = self._renderers.get(kind)
        outs = (kind,) if r is None else r[0]
        self._submitted += len(outs)
        q = self._q
        if len(q) >= self._max or self._stop:
            self._dropped += len(outs)
            for k in outs:
                self._dropped_by_kind[k] = self._dropped_by_kind.get(k, 0) + 1
            return False
        q.append((kind, self._clock.time() if ts is None else ts, record))
        if len(q) == self._batch:
            self._wake.set()
        return True

    def wake(self) -> None:
        """Have the writer thread drain now rather than at its next interval."""
        self._wake.set()

    def stats(self) -> WriterStats:
        submitted, dropped, queued = self._submitted, self._dropped, len(self._q)
        by_kind, filtered, failed = dict(self._dropped_by_kind), self._filtered, self._failed
        for outs, source in self._sources:
            rendered, *lost, skipped, bad, buffered = source.stats()
            submitted += rendered + sum(lost) + skipped + bad
            dropped += sum(lost)
            queued += buffered
            filtered += skipped
            failed += bad
            for kind, n in zip(outs, lost, strict=False):
                if n:
                    by_kind[kind] = by_kind.get(kind, 0) + n
        return WriterStats(submitted, self._written, dropped, failed, queued, by_kind,
                           filtered)

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
        for _, source in self._sources:   # refuse from now on, as submit does
            source.close()
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
            # one list of lines per (kind, day); a record is rendered only when it is taken
            batches: dict[tuple[str, str], list[bytes]] = {}
            # records for a renderer, per (kind, day), rendered together after the loop
            pending: dict[tuple[str, str], list[Any]] = {}
            days: dict[int, str] = {}
            renderers = self._renderers
            dumps, opt = orjson.dumps, orjson.OPT_APPEND_NEWLINE
            failed = 0
            while q:
                kind, ts, record = q.popleft()
                d = int(ts // 86400)
                day = days.get(d)
                if day is None:
                    day = days[d] = time.strftime("%Y-%m-%d", time.gmtime(d * 86400))
                if kind in renderers:
                    waiting = pending.get((kind, day))
                    if waiting is None:
                        waiting = pending[(kind, day)] = []
                    waiting.append(record)
                    continue
                try:
                    if isinstance(record, str):   # an already formatted line (access log)
                        line = record.replace("\n", " ").encode() + b"\n"
                    else:
                        line = dumps(record, option=opt)
                except (TypeError, ValueError):
                    failed += 1
                    continue
                batch = batches.get((kind, day))
                if batch is None:
                    batch = batches[(kind, day)] = []
                batch.append(line)
            # lines rendered on the request path, in chunks; counted per line
            chunked: dict[tuple[str, str], int] = {}
            for outs, source in self._sources:
                for index, d, chunk, count in source.take():
                    day = days.get(d)
                    if day is None:
                        day = days[d] = time.strftime("%Y-%m-%d", time.gmtime(d * 86400))
                    key = (outs[index], day)
                    batch = batches.get(key)
                    if batch is None:
                        batch = batches[key] = []
                    batch.append(chunk)
                    chunked[key] = chunked.get(key, 0) + count - 1
            for (kind, day), records in pending.items():
                outs, render, many = renderers[kind]
                for k, lines in zip(outs, self._render(records, outs, render, many),
                                    strict=True):
                    good = [x for x in lines if x]   # b"": a line the renderer filtered out
                    bad = lines.count(None)
                    failed += bad
                    self._filtered += len(lines) - len(good) - bad
                    batch = batches.get((k, day))
                    if batch is None:
                        batches[(k, day)] = good
                    else:
                        batch.extend(good)
            written = 0
            for key, lines_ in batches.items():
                count = len(lines_) + chunked.get(key, 0)
                done = self._write_lines(key, lines_, count)
                written += done
                failed += count - done
            self._written += written
            self._failed += failed
            now = time.monotonic()
            for key in batches:
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

    def _render(self, records: list[Any], outs: tuple[str, ...], render: Renderer,
                many: BatchRenderer | None) -> Sequence[list[bytes | None]]:
        """One list of lines per output kind, aligned with ``records``."""
        if many is not None:
            try:
                lines = many(records)
                if len(lines) == len(outs) and all(len(x) == len(records) for x in lines):
                    return lines
                raise ValueError("a batch renderer returned misaligned lines")
            except Exception:  # a renderer bug must not kill the writer thread
                self._render_failed()
        columns: list[list[bytes | None]] = [[] for _ in outs]
        for record in records:
            try:
                row: Sequence[bytes | None] = render(record)
                if len(row) != len(outs):
                    raise ValueError("a renderer returned the wrong number of lines")
            except Exception:  # a renderer bug must not kill the writer thread
                self._render_failed()
                row = (None,) * len(outs)
            for column, line in zip(columns, row, strict=True):
                column.append(line)
        return columns

    def _render_failed(self) -> None:
        self._render_errors += 1
        if self._render_errors == 1:   # counted always; the traceback once, not per record
            log.exception("log renderer failed (further failures are only counted)")

    def _write_lines(self, key: tuple[str, str], lines: list[bytes], count: int) -> int:
        """Append ``lines`` (``count`` lines in all: an item may hold several) to the current
        file of ``key``: one write when it fits the file, else line by line (rotation).
        Returns how many lines were written."""
        entry = self._files.get(key)
        chunk = b"".join(lines)
        if entry is not None and entry[1] + len(chunk) <= self._max_bytes:
            try:
                entry[0].write(chunk)
            except OSError:
                return 0
            self._files[key] = (entry[0], entry[1] + len(chunk), entry[2])
            return count
        if count != len(lines):
            lines = chunk.splitlines(keepends=True)
        done = 0
        for line in lines:
            try:
                self._write(key, line)
                done += 1
            except OSError:
                pass
        return done

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
