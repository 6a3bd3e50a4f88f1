"""A cube file of N generated listens, folded by the query API's own sink without the stream.

The ``query`` row at 10M listens measures answering, not building: projecting 10M events from the
stream into the cube takes longer than the whole benchmark budget (the ``cube`` and ``replay`` rows
measure that path). Here the same :class:`~query_api.cube.sink.CubeSink` folds the generator's
events in large batches straight into a new cube file, with its checkpoint at N, so the file is
exactly what the query API would have built from a stream of those N events.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from bench.generate import Catalogue, ListenColumns, iter_events
from query_api.cube.schema import open_cube
from query_api.cube.sink import CubeSink

__all__ = ["seed_cube"]

CHUNK = 100_000


def seed_cube(
    path: Path, cat: Catalogue, cols: ListenColumns, say: Callable[[str], None] | None = None
) -> float:
    """Build the cube at ``path`` from every generated listen; returns the events per second."""
    con, replica_id = open_cube(path)
    sink = CubeSink(con, f"cube-{replica_id}")
    n = len(cols)
    started = time.perf_counter()
    try:
        for lo in range(0, n, CHUNK):
            hi = min(n, lo + CHUNK)
            sink.apply_sync([(lo + i + 1, ev) for i, ev in enumerate(iter_events(cat, cols, lo, hi))])
            if say is not None and (hi // CHUNK) % 10 == 0:
                rate = hi / (time.perf_counter() - started)
                say(f"cube seed: {hi:,} of {n:,} listens ({rate:,.0f}/s)")
        con.execute("CHECKPOINT")
    finally:
        sink.close()
        con.close()
    return n / (time.perf_counter() - started)
