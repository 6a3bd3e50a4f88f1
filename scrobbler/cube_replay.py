"""``scrobbler replay --cube``: build a new DuckDB cube file from the stream, then swap it in.

The new file ``<cube>.replay`` is built with the query API's own :class:`CubeSink` (same fold,
same checkpoint table), so it is what the query API would have built. DuckDB lets one process
hold a file, and the running query API holds the live cube, so the swap (an atomic rename) happens
only while the query API is stopped: run the replay while it serves (the long part), stop it, run
the replay again (it resumes and only applies the tail), start it. The new file has a new replica
id, so the query API's consumer for it is new and starts right after the file's checkpoint; the
old file's durable consumer is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import duckdb
import nats.errors
import structlog
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from rich.console import Console

from projector.replay import ProgressFn, replay_into
from query_api.cube.schema import open_cube
from query_api.cube.sink import CubeSink
from scrobbler.settings import Settings
from scrobbler.stream import StreamClient

__all__ = ["CubeInUse", "cube_in_use", "replay_cube", "run_cube_replay"]

log = structlog.get_logger(__name__)


class CubeInUse(RuntimeError):
    """The live cube file is held by a running query API."""


def _replay_path(live: Path) -> Path:
    return live.with_name(live.name + ".replay")


def cube_in_use(path: Path) -> bool:
    """Whether another process (a query API) holds the cube file."""
    if not path.exists():
        return False
    try:
        duckdb.connect(str(path), read_only=True).close()
    except duckdb.IOException:
        return True
    return False


def _replica_id(path: Path) -> str | None:
    if not path.exists():
        return None
    con = duckdb.connect(str(path), read_only=True)
    try:
        row = con.execute("SELECT value FROM cube_meta WHERE key = 'replica_id'").fetchone()
    except duckdb.Error:
        return None
    finally:
        con.close()
    return str(row[0]) if row else None


def _swap_files(new: Path, live: Path) -> None:
    """Atomically put ``new`` (checkpointed: no WAL left) where ``live`` is."""
    with contextlib.suppress(FileNotFoundError):
        Path(str(live) + ".wal").unlink()
    os.replace(new, live)


async def replay_cube(
    js: JetStreamContext,
    settings: Settings,
    *,
    restart: bool = False,
    from_seq: int = 1,
    progress: ProgressFn | None = None,
) -> tuple[int, bool]:
    """Build (or resume) ``<cube>.replay`` to the end of the stream, swap it in when the live cube is
    free; returns (position, swapped)."""
    live = settings.db.duckdb_path
    new = _replay_path(live)
    if restart:
        for p in (new, new.with_name(new.name + ".wal")):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
    con, replica_id = await asyncio.to_thread(open_cube, new)
    sink = CubeSink(con, f"cube-{replica_id}")
    try:
        position = await replay_into(js, settings, sink, from_seq=from_seq, progress=progress)
        await asyncio.to_thread(con.execute, "CHECKPOINT")
    finally:
        sink.close()
        await asyncio.to_thread(con.close)
    if cube_in_use(live):
        return position, False
    old_id = _replica_id(live)
    _swap_files(new, live)
    if old_id:
        with contextlib.suppress(NotFoundError, nats.errors.Error, TimeoutError):
            await js.delete_consumer(settings.nats.stream, f"cube-{old_id}")
    log.info("cube switched", path=str(live), position=position)
    return position, True


def run_cube_replay(
    settings: Settings,
    nats_url: str,
    from_seq: int,
    restart: bool,
    console: Console,
    report: ProgressFn | None = None,
) -> str:
    """The CLI's cube step (its own progress bar unless ``report`` is given); returns the line to print."""
    from scrobbler.replay import progress_bar

    async def main() -> tuple[int, bool]:
        client = StreamClient(nats_url, settings.nats, name="scrobbler-replay-cube")
        await client.connect()
        assert client.js is not None
        try:
            bar = contextlib.nullcontext(report) if report is not None else progress_bar("cube", console)
            with bar as progress:
                return await replay_cube(
                    client.js, settings, restart=restart, from_seq=from_seq, progress=progress
                )
        finally:
            await client.close()

    position, swapped = asyncio.run(main())
    if swapped:
        return f"cube: rebuilt to stream sequence {position} and swapped in at {settings.db.duckdb_path}"
    building = _replay_path(settings.db.duckdb_path)
    return (
        f"cube: rebuilt to stream sequence {position} in {building}, but the live "
        "cube is held by a running query API: stop it, run `scrobbler replay --cube` again (it only applies "
        "the tail), then start it"
    )
