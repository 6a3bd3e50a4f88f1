"""Interpreter settings for long-running processes: the collector's, and how often threads switch.

Every process here allocates many short-lived containers (decoded events, row tuples, request
objects) while holding a large, permanent heap (modules, the app, catalogue caches). With the
default thresholds the collector re-walks that permanent heap in frequent full collections:
measured, that made ingest's p99 ten times its median and cost a folding process a third of its
throughput. Freezing what exists at start-up and collecting the young generation less often
keeps cyclic garbage collected while the collector stops rescanning what never dies.

A process that folds on its event loop while a writer thread talks to a database (the cube's
DuckDB writer, aiosqlite's thread) also switches threads more often: every database call releases
the GIL, and getting it back waited for the folding thread's switch interval (5 ms by default).
"""

from __future__ import annotations

import atexit
import gc
import sys
from dataclasses import dataclass

__all__ = ["FOLD", "FOLD_SWITCH_INTERVAL", "FOLD_YOUNG", "HTTP", "HTTP_YOUNG", "Tuning", "tune"]

HTTP_YOUNG = 10_000
"""Young-generation threshold for ingest and the projector: short pauses (ingest p99 78 -> 9 ms),
and the projector's memory stays flat (+13% over a 100k run; +16% with ``FOLD_YOUNG``)."""
FOLD_YOUNG = 50_000
"""For the cube's folding (the query API, replay): fewer collections per batch (cube fold
23.7k -> 37k events/s in-process)."""


FOLD_SWITCH_INTERVAL = 0.0002
"""Seconds a thread may hold the GIL while another waits, where the cube folds (query API,
replay): the writer thread's many short database calls each waited up to 5 ms for the GIL while
the loop folded the next batch (measured in process: the writer's batch 93 -> 65 ms, cube
projection 46k -> 50k events/s)."""


@dataclass(frozen=True)
class Tuning:
    """The interpreter settings of one kind of process."""

    young: int
    """The collector's young-generation threshold."""
    switch_interval: float | None = None
    """Seconds a thread may hold the GIL while another waits (None: Python's 5 ms)."""


HTTP = Tuning(young=HTTP_YOUNG)
"""Ingest and the projector."""
FOLD = Tuning(young=FOLD_YOUNG, switch_interval=FOLD_SWITCH_INTERVAL)
"""Where the cube folds: the query API (``scrobbler run`` included) and the replay."""


def tune(tuning: Tuning) -> None:
    """Freeze everything allocated so far out of the collector, set its thresholds and the GIL's
    switch interval."""
    if tuning.switch_interval is not None:
        sys.setswitchinterval(tuning.switch_interval)
    gc.collect()
    gc.freeze()
    gc.set_threshold(tuning.young, 20, 100)
    # Hand the frozen heap back at exit, so the interpreter's last collection frees it (extension
    # modules such as DuckDB's otherwise report its objects as leaked).
    atexit.unregister(gc.unfreeze)
    atexit.register(gc.unfreeze)
