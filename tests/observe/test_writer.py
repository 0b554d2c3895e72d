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
