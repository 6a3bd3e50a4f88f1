"""A replay's heap tables (projector.heap) give exactly the rows of projecting one row at a time.

Random streams of listens (the same listen again with other credits, genres, times received),
enrichments (before and after their listen), tombstones and configuration changes, cut into random batches, go through
the SQL sink twice on real SQLite files: into keyed tables (the live projector), and into heaps
that are then filled into keyed tables (a replay's shadow and its switch). Every table must hold
the same rows.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, Table, create_engine, select

from projector import heap
from projector.db import create_engine as create_async
from projector.db import create_writer
from projector.sql_sink import SqlSink
from projector.tables import config, metadata
from projector.writer_process import WriterProcess
from schemas.events import ArtistCredit, ConfigChanged, Event, ListenEnriched, ListensDeleted
from schemas.identity import listen_id
from schemas.listens import new_listen

T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)
USERS = ("ann", "bob")
TITLES = ("Song", "Other")
GENRES = ("rock", "pop", "Rock", "jazz")


def _at(slot: int) -> datetime:
    return T0 + timedelta(minutes=slot)


@st.composite
def listen(draw: st.DrawFn) -> Event:
    guest = draw(st.sampled_from([None, "Guest", "Other Guest"]))
    credits = [ArtistCredit(name="Band")]
    if guest:
        credits.append(ArtistCredit(name=guest, role=draw(st.sampled_from(["featured", "remixer"]))))
    return new_listen(
        user=draw(st.sampled_from(USERS)),
        listened_at=_at(draw(st.integers(0, 3))),
        title=draw(st.sampled_from(TITLES)),
        artists=credits,
        received_at=_at(100 + draw(st.integers(0, 50))),
        album=draw(st.sampled_from([None, "LP"])),
        genres=tuple(draw(st.lists(st.sampled_from(GENRES), max_size=3))),
        recording_mbid=draw(st.sampled_from([None, "00000000-0000-0000-0000-00000000000a"])),
        source="test",
    )


@st.composite
def enrichment(draw: st.DrawFn) -> Event:
    user = draw(st.sampled_from(USERS))
    lid = listen_id(user, _at(draw(st.integers(0, 3))), "Band", draw(st.sampled_from(TITLES)))
    return ListenEnriched(
        event_id=f"enrich-{draw(st.integers(0, 10**9))}",
        occurred_at=T0,
        user=user,
        listen_id=lid,
        genres=tuple(draw(st.lists(st.sampled_from(GENRES), max_size=2))),
        recording_mbid=draw(
            st.sampled_from(
                [None, "00000000-0000-0000-0000-00000000000b", "00000000-0000-0000-0000-00000000000c"]
            )
        ),
    )


@st.composite
def tombstone(draw: st.DrawFn) -> Event:
    user = draw(st.sampled_from([None, *USERS]))
    since = draw(st.sampled_from([None, 0, 1, 2]))
    ids: tuple[str, ...] = ()
    if draw(st.booleans()):
        ids = (listen_id(user or "ann", _at(draw(st.integers(0, 3))), "Band", draw(st.sampled_from(TITLES))),)
    return ListensDeleted(
        event_id=f"delete-{draw(st.integers(0, 10**9))}",
        occurred_at=T0,
        user=user,
        since=None if since is None else _at(since),
        until=None if since is None else _at(since + 2),
        listen_ids=ids,
    )


@st.composite
def config_change(draw: st.DrawFn) -> Event:
    return ConfigChanged(
        event_id=f"config-{draw(st.integers(0, 10**9))}",
        occurred_at=T0,
        key=draw(st.sampled_from(["default_user", "theme"])),
        value=draw(st.sampled_from(["ann", "bob", "dark"])),
    )


streams = st.lists(
    st.one_of(listen(), listen(), listen(), enrichment(), tombstone(), config_change()),
    min_size=1,
    max_size=40,
)


def _batches(events: list[Event], cuts: list[int]) -> list[list[tuple[int, Event]]]:
    numbered = list(enumerate(events, start=1))
    edges = sorted({0, len(numbered), *(c % (len(numbered) + 1) for c in cuts)})
    return [numbered[a:b] for a, b in pairwise(edges) if b > a]


def _database(path: Path, *, heaps: bool) -> Engine:
    engine = create_engine(f"sqlite:///{path}")
    metadata.create_all(engine)
    if heaps:
        with engine.begin() as conn:
            heap.make_heaps(conn)
    return engine


async def _project(
    path: Path, batches: list[list[tuple[int, Event]]], *, heaps: bool, remote: bool = False
) -> bool:
    """Project the batches into a new database at ``path``, written on a thread or (``remote``)
    by a writer process as a replay's shadow is; whether its tables are still heaps."""
    _database(path, heaps=heaps).dispose()
    dsn = f"sqlite+aiosqlite:///{path}"
    engine = create_async(dsn)
    writer = WriterProcess(dsn, synced=True) if remote else None
    sink = SqlSink(engine, "sql", writer=None if remote else create_writer(dsn), remote=writer, heaps=heaps)
    try:
        for batch in batches:
            await sink.apply(batch, sink.prepare(batch))
        async with engine.connect() as conn:
            return await conn.run_sync(heap.has_heaps)
    finally:
        await sink.close()
        if writer is not None:
            writer.close()
        await engine.dispose()


def _rows(engine: Engine, tables: tuple[Table, ...] = heap.HEAP_TABLES) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {t.name: sorted(tuple(r) for r in conn.execute(select(t))) for t in tables}


_cuts = st.lists(st.integers(0, 40), max_size=4)
_cases = given(events=streams, cuts=_cuts, heap_cuts=_cuts)
"""A random stream, cut into batches one way for the live tables and another for the heaps."""


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@_cases
def test_heaps_filled_equal_rows_projected_one_at_a_time(
    events: list[Event], cuts: list[int], heap_cuts: list[int]
) -> None:
    _check(events, cuts, heap_cuts, remote=False)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@_cases
def test_heaps_written_by_the_writer_process_equal_rows_projected_one_at_a_time(
    events: list[Event], cuts: list[int], heap_cuts: list[int]
) -> None:
    """The same through :class:`projector.writer_process.WriterProcess`, as a replay writes."""
    _check(events, cuts, heap_cuts, remote=True)


def _check(events: list[Event], cuts: list[int], heap_cuts: list[int], *, remote: bool) -> None:
    with TemporaryDirectory() as tmp:
        d = Path(tmp)
        asyncio.run(_project(d / "live.db", _batches(events, cuts), heaps=False))
        still_heaps = asyncio.run(
            _project(d / "shadow.db", _batches(events, heap_cuts), heaps=True, remote=remote)
        )
        assert still_heaps == (not any(isinstance(e, ListensDeleted) for e in events))
        if still_heaps:
            target = _database(d / "switched.db", heaps=False)
            with target.begin() as conn:
                conn.exec_driver_sql(f"ATTACH DATABASE '{d / 'shadow.db'}' AS shadow")
                heap.fill(conn, "shadow", "main")
        else:
            target = create_engine(f"sqlite:///{d / 'shadow.db'}")
        live = create_engine(f"sqlite:///{d / 'live.db'}")
        shadow = create_engine(f"sqlite:///{d / 'shadow.db'}")
        try:
            assert _rows(target) == _rows(live)
            # What a step writes besides its listens goes in with them, heaps or not.
            assert _rows(shadow, (config,)) == _rows(live, (config,))
        finally:
            target.dispose()
            live.dispose()
            shadow.dispose()


def _genres_by_listen(engine: Engine) -> dict[str, set[str]]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT l.listen_id, g.name FROM listens l JOIN genre_sets s ON s.set_id = l.genre_set_id"
            " JOIN genres g ON g.id = s.genre_id"
        )
        found: dict[str, set[str]] = {}
        for lid, name in rows:
            found.setdefault(lid, set()).add(name)
        return found


def _enriched(user: str, slot: int, *genres: str) -> Event:
    return ListenEnriched(
        event_id=f"enrich-{slot}-{genres}",
        occurred_at=T0,
        user=user,
        listen_id=listen_id(user, _at(slot), "Band", "Song"),
        genres=genres,
    )


def _song(user: str, slot: int, *genres: str) -> Event:
    return new_listen(
        user=user,
        listened_at=_at(slot),
        title="Song",
        artists=[ArtistCredit(name="Band")],
        received_at=_at(100),
        genres=genres,
        source="test",
    )


def test_enrichments_move_listens_that_came_before_them_to_the_union_set() -> None:
    """Known answers: genres added to a listen with genres, to one without, to a listen never
    recorded, and to one recorded after the enrichment (which keeps its own); listens with the
    same genres in the end share one set. Live tables and heaps (filled at the switch) alike,
    in one batch and one event at a time."""
    events = [
        _song("ann", 0, "rock"),
        _song("ann", 1),
        _enriched("ann", 0, "Jazz", "rock"),
        _enriched("ann", 1, "pop"),
        _enriched("ann", 2, "pop"),  # never recorded
        _enriched("ann", 3, "jazz"),
        _song("ann", 3),  # after its enrichment
        _song("bob", 0, "jazz", "rock"),
    ]
    ann = [listen_id("ann", _at(s), "Band", "Song") for s in range(4)]
    bob = listen_id("bob", _at(0), "Band", "Song")
    expected = {ann[0]: {"rock", "Jazz"}, ann[1]: {"pop"}, bob: {"rock", "Jazz"}}
    numbered = list(enumerate(events, start=1))
    for batches in ([numbered], [[e] for e in numbered]):
        with TemporaryDirectory() as tmp:
            d = Path(tmp)
            asyncio.run(_project(d / "live.db", batches, heaps=False))
            asyncio.run(_project(d / "shadow.db", batches, heaps=True))
            target = _database(d / "switched.db", heaps=False)
            with target.begin() as conn:
                conn.exec_driver_sql(f"ATTACH DATABASE '{d / 'shadow.db'}' AS shadow")
                heap.fill(conn, "shadow", "main")
            live = create_engine(f"sqlite:///{d / 'live.db'}")
            try:
                for engine in (live, target):
                    assert _genres_by_listen(engine) == expected
                    with engine.connect() as conn:
                        sets = dict(conn.exec_driver_sql("SELECT listen_id, genre_set_id FROM listens").all())
                    assert sets[ann[0]] == sets[bob] and sets[ann[3]] is None
            finally:
                live.dispose()
                target.dispose()
