"""A serving process freezes its start-up heap and collects the young generation less often."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import gc
from bastion.http.server import GC_YOUNG_THRESHOLD, settle_heap
before = gc.get_threshold()
kept = [[i] for i in range(1000)]          # start-up state: frozen, still reachable
settle_heap()
after = gc.get_threshold()
print(gc.get_freeze_count() >= 1000, after[0] == GC_YOUNG_THRESHOLD, after[1:] == before[1:])
"""


def test_settle_heap_freezes_startup_objects_and_raises_the_young_threshold() -> None:
    # in a child interpreter: freezing the test process's heap would keep its garbage forever
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["True", "True", "True"]
