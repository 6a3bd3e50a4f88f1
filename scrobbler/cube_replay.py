"""``scrobbler replay --cube``: build a new DuckDB cube file from the stream, then swap it in.

The new file ``<cube>.replay`` is built with the query API's own :class:`CubeSink` (same fold,
same checkpoint table), so it is what the query API would have built. DuckDB lets one process
hold a file: when a query API holds the live cube, the replay asks it (a NATS request on
:func:`~query_api.cube.extension.swap_subject`) to take the new file, which it does without a
restart (see :meth:`~query_api.cube.extension.Cube.swap_in`); when none does, the replay renames
the file itself. The new file has a new replica id, so its consumer is new and starts right after
the file's checkpoint; the old file's durable consumer is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path

import duckdb
import msgspec
import nats.errors
import structlog
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from rich.console import Console

from projector.pull import connection_of
from projector.replay import ProgressFn, replay_into
from projector.stream_tee import TeeReceiver
from query_api.cube.extension import BATCH_SIZE, SwapAnswer, swap_subject
from query_api.cube.schema import open_cube, put_in_place, replay_path
from query_api.cube.sink import CubeSink
from scrobbler.settings import Settings
from scrobbler.stream import StreamClient

__all__ = ["CubeInUse", "cube_in_use", "replay_cube", "run_cube_replay"]

log = structlog.get_logger(__name__)


class CubeInUse(RuntimeError):
    """The live cube file is held by a process that did not take the new one."""


SWAP_TIMEOUT_S = 120.0
"""How long the running query API may take to fold the new file up to its own position and switch."""


async def _ask_query_api(js: JetStreamContext, settings: Settings) -> int | None:
    """Ask the query API holding the live cube to take the new file; its position after the swap,
    or None when no query API answers on the swap subject."""
    nc = connection_of(js)
    try:
        msg = await nc.request(swap_subject(settings), b"", timeout=SWAP_TIMEOUT_S)
    except nats.errors.NoRespondersError:
        return None
    answer = msgspec.json.decode(msg.data, type=SwapAnswer)
    if answer.error:
        raise CubeInUse(f"the query API holding the cube did not take the new one: {answer.error}")
    return answer.position


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


async def replay_cube(
    js: JetStreamContext,
    settings: Settings,
    *,
    restart: bool = False,
    from_seq: int = 1,
    progress: ProgressFn | None = None,
    tee: TeeReceiver | None = None,
) -> tuple[int, bool]:
    """Build (or resume) ``<cube>.replay`` to the end of the stream, then swap it in (by the running
    query API when one holds the live cube); returns (position, swapped). ``tee``: what another
    replay reads, folded before reading the rest (:mod:`projector.stream_tee`)."""
    live = settings.db.duckdb_path
    new = replay_path(live)
    if restart:
        for p in (new, new.with_name(new.name + ".wal")):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
    con, replica_id = await asyncio.to_thread(open_cube, new, memory_limit=settings.db.cube_memory_limit)
    # No rollup folds while catching up (each would rewrite the rollups); one at the end.
    sink = CubeSink(con, f"cube-{replica_id}", rollup_min_tail=sys.maxsize)
    try:
        position = await replay_into(
            js, settings, sink, from_seq=from_seq, progress=progress, batch=BATCH_SIZE, tee=tee
        )
        await sink.run(lambda: sink.fold_if_due(force=True))
        await asyncio.to_thread(con.execute, "CHECKPOINT")
    finally:
        sink.close()
        await asyncio.to_thread(con.close)
    if cube_in_use(live):
        taken = await _ask_query_api(js, settings)
        return (position, False) if taken is None else (taken, True)
    old_id = _replica_id(live)
    put_in_place(new, live)
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
    tee: TeeReceiver | None = None,
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
                    client.js, settings, restart=restart, from_seq=from_seq, progress=progress, tee=tee
                )
        finally:
            await client.close()

    position, swapped = asyncio.run(main())
    if swapped:
        return f"cube: rebuilt to stream sequence {position} and swapped in at {settings.db.duckdb_path}"
    building = replay_path(settings.db.duckdb_path)
    return (
        f"cube: rebuilt to stream sequence {position} in {building}, but the live "
        "cube is held by a process that does not answer swap requests (a query API of an older version?):"
        " stop it, run `scrobbler replay --cube` again (it only applies the tail), then start it"
    )
