"""cube: the DuckDB cube projection (``query_api.cube``) from 0 to N events.

Ceiling: raw consume + one bulk insert of the same facts.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import time
from datetime import UTC
from pathlib import Path
from typing import Any

import duckdb
import msgspec
import pyarrow as pa

from bench.context import Context
from bench.row import Row, unavailable
from bench.servers import RssSampler
from bench.stream_load import connect, consume, create_stream, load_events
from projector.folds import cube_rows
from projector.folds.sql_rows import catalogue_ids_of
from projector.pull import Delivery
from schemas.events import ListenRecorded
from schemas.subjects import stream_subjects
from scrobbler.gc_tuning import FOLD, tune

__all__ = ["available", "run"]

TARGET = "≥ 0.5 of ceiling, ≥ 100,000 events/s"


_READ = ("event_id", "user", "listened_at", "title", "artists", "album", "album_artist")
_Listen = msgspec.defstruct(
    "_Listen",
    [(f.name, f.type, f.default) for f in msgspec.structs.fields(ListenRecorded) if f.name in _READ],
    kw_only=True,
    frozen=True,
    gc=False,
)
"""The fields of a listen that the ceiling reads, as the event declares them (msgspec skips the rest)."""
_DECODER = msgspec.json.Decoder(_Listen)


def available() -> bool:
    return importlib.util.find_spec("query_api.cube.sink") is not None


async def _ceiling(js: Any, n: int, path: str) -> float:
    cols: dict[str, list[Any]] = {
        k: [] for k in ("listen_id", "user_name", "listened_at", "track_id", "artist_id", "album_id")
    }

    async def on_batch(msgs: list[Delivery]) -> None:
        for m in msgs:
            if isinstance(cube_rows.decode(m.data), bytes):  # a listen, as the cube tells them apart
                ev = _DECODER.decode(m.data)
                track_id, artist_id, album_id = catalogue_ids_of(
                    ev.artists, ev.title, ev.album, ev.album_artist
                )
                cols["listen_id"].append(ev.event_id)
                cols["user_name"].append(ev.user)
                cols["listened_at"].append(ev.listened_at.astimezone(UTC).replace(tzinfo=None))
                cols["track_id"].append(track_id)
                cols["artist_id"].append(artist_id)
                cols["album_id"].append(album_id)

    started = time.perf_counter()
    await consume(js, "SCROBBLES", n, on_batch, durable="cube-ceiling")
    con = duckdb.connect(path)
    facts = pa.table(cols)  # noqa: F841  (read by DuckDB's replacement scan below)
    con.execute("CREATE TABLE listens AS SELECT * FROM facts")
    con.close()
    return n / (time.perf_counter() - started)


async def _ours(js: Any, n: int, path: str) -> tuple[float, dict[str, Any]]:
    from projector.runner import Projection
    from query_api.cube.extension import BATCH_SIZE
    from query_api.cube.schema import open_cube
    from query_api.cube.sink import CubeSink

    # As the query API runs it: its batch size, rollups folded on their own thread.
    con, _ = open_cube(Path(path))
    sink = CubeSink(con, "cube", background_fold=True)
    projection = Projection(
        js=js,
        stream="SCROBBLES",
        sink=sink,
        filter_subjects=stream_subjects("scrobbles"),
        batch_size=BATCH_SIZE,
    )
    sink.backlog = lambda: projection.backlog
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(projection.run(stop))
    with RssSampler({"bench (cube in-process)": os.getpid()}) as rss:
        while projection.position < n:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
    seconds = time.perf_counter() - started
    stop.set()
    await task
    sink.close()
    con.close()
    return n / seconds, rss.summary()


def run(ctx: Context) -> Row:
    if not available():
        return unavailable("events/s", TARGET, "query_api.cube (the analytics engineer builds it)")
    n = ctx.n
    work = ctx.scratch("cube")
    # The collector as the query API's process sets it (scrobbler.gc_tuning); ceiling and ours alike.
    tune(FOLD)

    async def main() -> tuple[float, float, dict[str, Any]]:
        with ctx.nats("cube") as nats:
            nc, js = await connect(nats.url)
            try:
                await create_stream(js, "SCROBBLES", "scrobbles")
                await load_events(nc, ctx.events, stream="SCROBBLES", stop=n)
                ceil = await _ceiling(js, n, str(work / "ceiling.duckdb"))
                ctx.say(f"cube ceiling (raw consume + one bulk insert): {ceil:,.0f} events/s")
                rate, rss = await _ours(js, n, str(work / "cube.duckdb"))
            finally:
                await nc.close()
        return ceil, rate, rss

    try:
        ceil, rate, rss = asyncio.run(main())
    except (ImportError, AttributeError, TypeError, duckdb.Error, msgspec.ValidationError) as exc:
        return unavailable("events/s", TARGET, f"query_api.cube is not usable yet ({exc!r:.120})")
    ctx.rss["cube"] = rss
    ctx.say(f"cube ours (CubeSink projection): {rate:,.0f} events/s")
    ratio = rate / ceil
    return Row(
        figure=round(rate, 1),
        unit="events/s",
        ceiling=round(ceil, 1),
        ratio=round(ratio, 3),
        target=TARGET,
        pass_=ratio >= 0.5 and rate >= 100_000,
        note=f"{n:,} events, in the bench process (the query API's cube projection code)",
        details={"events": n, "rss": rss},
    )
