from __future__ import annotations

import json
from pathlib import Path

from bastion.clock import FrozenClock
from bastion.observe.writer import LogWriter

DAY = 86400.0
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def _lines(root: Path, kind: str) -> dict[str, list[dict[str, object]]]:
    out: dict[str, list[dict[str, object]]] = {}
    for f in sorted((root / kind).glob("dt=*/part-*.jsonl")):
        out.setdefault(f.parent.name, []).extend(json.loads(x) for x in f.read_text().splitlines())
    return out


def test_partitions_by_record_time_and_flushes_on_close(tmp_path: Path) -> None:
    clock = FrozenClock(T0)
    w = LogWriter(tmp_path, clock=clock)
    for i in range(30):
        w.submit("waf", {"i": i}, ts=T0 + (i % 3) * DAY)
    clock.advance(DAY)
    w.submit("access", {"late": True})
    w.close()
    waf = _lines(tmp_path, "waf")
    assert sorted(waf) == ["dt=2026-01-01", "dt=2026-01-02", "dt=2026-01-03"]
    assert sum(len(v) for v in waf.values()) == 30
    assert _lines(tmp_path, "access") == {"dt=2026-01-02": [{"late": True}]}
    s = w.stats()
    assert (s.submitted, s.written, s.dropped, s.queued) == (31, 31, 0, 0)


def test_full_queue_drops_and_counts_never_blocks(tmp_path: Path) -> None:
    w = LogWriter(tmp_path, clock=FrozenClock(T0), max_queue=10, start=False)
    accepted = [w.submit("waf", {"i": i}) for i in range(25)]
    assert accepted.count(True) == 10
    s = w.stats()
    assert s.dropped == 15 and s.dropped_by_kind == {"waf": 15} and s.queued == 10
    w.close()
    assert w.stats().written == 10
    assert w.submit("waf", {}) is False  # closed: counted, not silently lost
    assert w.stats().dropped == 16


def test_rotation_and_unserialisable_records(tmp_path: Path) -> None:
    w = LogWriter(tmp_path, clock=FrozenClock(T0), max_file_bytes=200, start=False)
    for i in range(50):
        w.submit("waf", {"i": i, "pad": "x" * 20})
    w.submit("waf", {"bad": object()})
    w.close()
    files = list((tmp_path / "waf" / "dt=2026-01-01").glob("part-*.jsonl"))
    assert len(files) > 5
    assert all(f.stat().st_size <= 200 for f in files)
    assert w.stats().written == 50 and w.stats().failed == 1


def test_background_thread_writes_without_close(tmp_path: Path) -> None:
    w = LogWriter(tmp_path, clock=FrozenClock(T0), batch=4, flush_interval=0.01)
    for i in range(8):
        w.submit("waf", {"i": i})
    w.flush()
    assert sum(len(v) for v in _lines(tmp_path, "waf").values()) == 8
    w.close()


def test_preformatted_lines_are_written_verbatim(tmp_path: Path) -> None:
    from bastion.observe.accesslog import compile_template
    line = compile_template("JSON").format({"requestId": "r1", "status": 200})
    with LogWriter(tmp_path, clock=FrozenClock(T0), start=False) as w:
        w.submit("access", line)
        w.submit("access", "two\nlines")
    f = next((tmp_path / "access").glob("dt=*/part-*.jsonl"))
    assert f.read_text().splitlines() == [line, "two lines"]
    assert json.loads(line)["requestId"] == "r1"


def test_renderers_turn_one_record_into_several_lines_and_count_everything(
        tmp_path: Path) -> None:
    def render(rec: tuple[int, ...]) -> tuple[bytes | None, bytes | None]:
        if rec[0] == 3:
            raise KeyError("bug")        # counted as failed, the thread survives
        waf = None if rec[0] == 4 else b'{"w":%d}\n' % rec[0]   # None: this line failed
        return b'{"a":%d}\n' % rec[0], waf

    w = LogWriter(tmp_path, clock=FrozenClock(T0), max_queue=6, start=False)
    w.add_renderer("request", ("access", "waf"), render)
    accepted = [w.submit("request", (i,)) for i in range(8)]
    assert accepted == [True] * 6 + [False] * 2
    s = w.stats()
    assert (s.submitted, s.dropped, s.dropped_by_kind) == (16, 4, {"access": 2, "waf": 2})
    w.close()
    s = w.stats()
    assert (s.written, s.failed) == (9, 3)
    assert [r["a"] for r in _lines(tmp_path, "access")["dt=2026-01-01"]] == [0, 1, 2, 4, 5]
    assert [r["w"] for r in _lines(tmp_path, "waf")["dt=2026-01-01"]] == [0, 1, 2, 5]


def test_batch_renderers_write_what_the_record_renderer_would(tmp_path: Path) -> None:
    """A batch renderer takes a drained run of records at once; when it raises or returns
    misaligned lines the records go through the per-record renderer instead."""
    def render(rec: tuple[int, ...]) -> tuple[bytes | None, bytes | None]:
        return b'{"a":%d}\n' % rec[0], None if rec[0] == 2 else b'{"w":%d}\n' % rec[0]

    calls: list[int] = []

    def many(recs: list[tuple[int, ...]]) -> tuple[list[bytes | None], ...]:
        calls.append(len(recs))
        if len(calls) == 2:
            raise KeyError("bug")
        if len(calls) == 3:
            return ([b"x\n"], [b"y\n"])   # misaligned with the records
        rows = [render(r) for r in recs]
        return ([a for a, _ in rows], [w for _, w in rows])

    w = LogWriter(tmp_path, clock=FrozenClock(T0), start=False)
    w.add_renderer("request", ("access", "waf"), render, batch=many)
    for batch in ((0, 1, 2), (3, 4), (5, 6)):
        for i in batch:
            w.submit("request", (i,))
        w.flush()
    w.close()
    assert calls == [3, 2, 2]
    assert [r["a"] for r in _lines(tmp_path, "access")["dt=2026-01-01"]] == list(range(7))
    assert [r["w"] for r in _lines(tmp_path, "waf")["dt=2026-01-01"]] == [0, 1, 3, 4, 5, 6]
    s = w.stats()
    assert (s.written, s.failed) == (13, 1)
