"""Reading the stream once for two rebuilds (:mod:`projector.stream_tee`), against a real stream,
a real SQLite shadow and real DuckDB cubes: what the cube folds from the tee equals what it folds
from the stream, whatever part of the stream the tee carries."""

from __future__ import annotations

import asyncio
import multiprocessing
from pathlib import Path
from typing import Any

import duckdb
import nats
import pytest

from projector.replay import replay_into, replay_sql
from projector.stream_read import read_range
from projector.stream_tee import TeeReceiver, TeeSender
from query_api.cube.schema import open_cube
from query_api.cube.sink import CubeSink
from scrobbler.embedded_nats import EmbeddedNats
from scrobbler.settings import Settings
from tests.conftest import make_settings
from tests.integration.replay_support import listens_for, publish_raw

N = 1500


def _facts(path: Path) -> dict[str, Any]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {
            table: sorted(con.execute(f"SELECT * FROM {table}").fetchall())
            for table in ("listens", "credits", "listen_genres", "artists", "tracks", "genres")
        } | {"position": con.execute("SELECT stream_seq FROM projection_checkpoint").fetchall()}
    finally:
        con.close()


async def _cube(js: Any, settings: Settings, path: Path, tee: TeeReceiver | None) -> int:
    """The cube at ``path`` brought to the end of the stream (through ``tee`` first); its position."""
    con, replica = open_cube(path)
    sink = CubeSink(con, f"cube-{replica}")
    try:
        return await replay_into(js, settings, sink, batch=700, tee=tee)
    finally:
        sink.close()
        con.close()


@pytest.fixture
async def stream(tmp_path: Path, nats_server: EmbeddedNats) -> tuple[Settings, Path]:
    settings = make_settings(tmp_path, nats_server.url)
    assert await publish_raw(settings, list(listens_for(0, N))) == N
    nc = await nats.connect(settings.nats.url or "")
    try:
        reference = tmp_path / "reference.duckdb"
        await _cube(nc.jetstream(timeout=10), settings, reference, None)
    finally:
        await nc.close()
    return settings, reference


async def test_the_cube_folds_what_the_sql_replay_reads(
    stream: tuple[Settings, Path], tmp_path: Path
) -> None:
    settings, reference = stream
    out, into = multiprocessing.Pipe(duplex=False)
    nc = await nats.connect(settings.nats.url or "")
    try:
        js = nc.jetstream(timeout=10)
        receiver = TeeReceiver(out)
        sql, cube = await asyncio.gather(
            replay_sql(js, settings, switch=False, batch=100, tee=TeeSender(into)),
            _cube(js, settings, tmp_path / "teed.duckdb", receiver),
        )
    finally:
        await nc.close()
    assert (sql.position, cube) == (N, N)
    assert receiver.received == N  # the cube read nothing from the stream itself
    assert _facts(tmp_path / "teed.duckdb") == _facts(reference)


@pytest.mark.parametrize(("first", "last"), [(1, 600), (400, 900), (901, N)])
async def test_the_stream_gives_what_the_tee_does_not(
    stream: tuple[Settings, Path], tmp_path: Path, first: int, last: int
) -> None:
    """A tee that starts past the cube's position (the cube reads the gap) and ends before the
    stream does (the cube reads the rest) leaves the same cube."""
    settings, reference = stream
    out, into = multiprocessing.Pipe(duplex=False)
    sender = TeeSender(into)
    nc = await nats.connect(settings.nats.url or "")
    try:
        js = nc.jetstream(timeout=10)

        async def send() -> None:
            async for msgs in read_range(
                js, settings.nats.stream, f"{settings.nats.subject_prefix}.>", first, last, batch=130
            ):
                await sender.send(msgs, last)
            await sender.close()

        receiver = TeeReceiver(out)
        _, position = await asyncio.gather(send(), _cube(js, settings, tmp_path / "teed.duckdb", receiver))
    finally:
        await nc.close()
    assert position == N
    assert receiver.received == last - first + 1
    assert _facts(tmp_path / "teed.duckdb") == _facts(reference)


async def test_a_cube_ahead_of_the_tee_skips_what_it_holds(
    stream: tuple[Settings, Path], tmp_path: Path
) -> None:
    settings, reference = stream
    nc = await nats.connect(settings.nats.url or "")
    try:
        js = nc.jetstream(timeout=10)
        path = tmp_path / "ahead.duckdb"
        # A cube already at the end (a tee that ended at once: the stream gives everything).
        out, into = multiprocessing.Pipe(duplex=False)
        into.close()
        assert await _cube(js, settings, path, TeeReceiver(out)) == N
        out, into = multiprocessing.Pipe(duplex=False)
        sender = TeeSender(into)

        async def send() -> None:
            async for msgs in read_range(
                js, settings.nats.stream, f"{settings.nats.subject_prefix}.>", 1, N, batch=500
            ):
                await sender.send(msgs, N)
            await sender.close()

        receiver = TeeReceiver(out)
        _, position = await asyncio.gather(send(), _cube(js, settings, path, receiver))
    finally:
        await nc.close()
    assert (position, receiver.received) == (N, N)
    assert _facts(path) == _facts(reference)
