"""The Alembic migrations build exactly the schema of ``projector.tables``, on SQLite and MariaDB,
and the newest one goes down and up again."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from projector.db import PAGE_SIZE, create_engine
from projector.migrate import alembic_config, migrate
from projector.tables import metadata
from schemas.identity import credit_set_id, genre_set_id
from tests.conftest import mariadb_database

Indexes = dict[str, set[tuple[str, tuple[str, ...]]]]

DROPPED_IN_0003 = {
    ("listens", "ix_listens_seq", ("stream_seq",)),
    ("listen_artists", "ix_listen_artists_artist_id", ("artist_id",)),
    ("listen_genres", "ix_listen_genres_genre", ("genre_id",)),
}


def _database_indexes(conn: Connection) -> Indexes:
    found = inspect(conn)
    return {
        t: {(str(ix["name"]), tuple(str(c) for c in ix["column_names"])) for ix in found.get_indexes(t)}
        for t in found.get_table_names()
        if t != "alembic_version"
    }


def _model_indexes() -> Indexes:
    return {
        t.name: {(str(ix.name), tuple(c.name for c in ix.columns)) for ix in t.indexes}
        for t in metadata.sorted_tables
    }


def _columns(conn: Connection) -> dict[str, list[str]]:
    found = inspect(conn)
    return {
        t: [c["name"] for c in found.get_columns(t)]
        for t in found.get_table_names()
        if t != "alembic_version"
    }


def _to(conn: Connection, revision: str, *, down: bool = False) -> None:
    (command.downgrade if down else command.upgrade)(alembic_config(conn), revision)


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        eng = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'schema.db'}")
        yield eng
        await eng.dispose()
        return
    async with mariadb_database() as dsn:
        eng = create_engine(dsn)
        yield eng
        await eng.dispose()


async def test_migrations_build_the_model_schema(engine: AsyncEngine) -> None:
    await migrate(engine)
    async with engine.connect() as conn:
        indexes = await conn.run_sync(_database_indexes)
        columns = await conn.run_sync(_columns)
    assert indexes == _model_indexes()
    assert columns == {t.name: [c.name for c in t.columns] for t in metadata.sorted_tables}
    if engine.dialect.name == "sqlite":
        async with engine.connect() as conn:
            without_rowid = await conn.run_sync(_without_rowid)
        assert without_rowid == {
            t.name for t in metadata.sorted_tables if t.dialect_options["sqlite"]["with_rowid"] is False
        }


def _without_rowid(conn: Connection) -> set[str]:
    rows = conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND sql IS NOT NULL"
    )
    return {str(name) for name, sql in rows if "WITHOUT ROWID" in str(sql).upper()}


def _pairs(conn: Connection) -> dict[str, list[tuple[object, ...]]]:
    return {
        t: [tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {t} ORDER BY 1, 2")]
        for t in ("listen_artists", "listen_genres")
    }


async def test_credits_and_genres_keep_their_rows_in_their_key(engine: AsyncEngine) -> None:
    """0004: on SQLite the two tables become WITHOUT ROWID, rows kept, and back again."""
    sqlite = engine.dialect.name == "sqlite"
    await migrate(engine)
    async with engine.connect() as conn:
        await conn.run_sync(_to, "0003", down=True)
        await conn.commit()
        await conn.exec_driver_sql(
            "INSERT INTO listen_artists VALUES ('b', 0, 7, 'main'), ('a', 1, 8, 'featured'), ('a', 0, 9, 'main')"
        )
        await conn.exec_driver_sql("INSERT INTO listen_genres VALUES ('b', 5), ('a', -3), ('a', 4)")
        await conn.commit()
        before = await conn.run_sync(_pairs)
        await conn.run_sync(_to, "0004")
        await conn.commit()
        assert await conn.run_sync(_pairs) == before
        if sqlite:
            assert await conn.run_sync(_without_rowid) == {"listen_artists", "listen_genres"}
        await conn.run_sync(_to, "0003", down=True)
        await conn.commit()
        assert await conn.run_sync(_pairs) == before
        if sqlite:
            assert await conn.run_sync(_without_rowid) == set()


async def test_unread_indexes_go_and_come_back(engine: AsyncEngine) -> None:
    await migrate(engine)
    async with engine.connect() as conn:
        await conn.run_sync(_to, "0002", down=True)
        await conn.commit()
        before = await conn.run_sync(_database_indexes)
        await conn.run_sync(_to, "0004")
        await conn.commit()
        after = await conn.run_sync(_database_indexes)
        await conn.run_sync(_to, "head")
        await conn.commit()
        head = await conn.run_sync(_database_indexes)
    for table, name, cols in DROPPED_IN_0003:
        assert (name, cols) in before[table]
        assert (name, cols) not in after[table]
    assert head == _model_indexes()


_LISTEN = (
    "INSERT INTO listens (listen_id, user_name, listened_at, track_id, artist_id, source, unresolved,"
    " received_at, stream_seq) VALUES (?, 'ann', '2024-01-01 00:00:00', 1, 7, 'test', 0,"
    " '2024-01-01 00:00:00', ?)"
)


def _sets(conn: Connection) -> dict[str, tuple[object, ...]]:
    """Each listen's credit (artist, role in order) and genres, read through its sets."""
    credits: dict[str, list[tuple[int, str]]] = {}
    for lid, artist, role in conn.exec_driver_sql(
        "SELECT l.listen_id, c.artist_id, c.role FROM listens l JOIN credit_sets c ON c.set_id = l.credit_set_id"
        " ORDER BY l.listen_id, c.position"
    ):
        credits.setdefault(lid, []).append((artist, role))
    genres: dict[str, list[int]] = {}
    for lid, genre in conn.exec_driver_sql(
        "SELECT l.listen_id, g.genre_id FROM listens l JOIN genre_sets g ON g.set_id = l.genre_set_id"
        " ORDER BY l.listen_id, g.genre_id"
    ):
        genres.setdefault(lid, []).append(genre)
    ids = [r[0] for r in conn.exec_driver_sql("SELECT listen_id FROM listens ORDER BY listen_id")]
    return {lid: (tuple(credits.get(lid, ())), tuple(genres.get(lid, ()))) for lid in ids}


async def test_per_listen_credits_and_genres_become_shared_sets(engine: AsyncEngine) -> None:
    """0005: the rows of listen_artists and listen_genres become sets the listens name, shared by
    listens credited alike, and come back as rows on the way down."""
    await migrate(engine)
    mark = "?" if engine.dialect.name == "sqlite" else "%s"
    async with engine.connect() as conn:
        await conn.run_sync(_to, "0004", down=True)
        await conn.commit()
        for i, lid in enumerate(("a", "b", "c", "d")):
            await conn.exec_driver_sql(_LISTEN.replace("?", mark), (lid, i + 1))
        await conn.exec_driver_sql(
            "INSERT INTO listen_artists VALUES ('a', 0, 7, 'main'), ('a', 1, 8, 'featured'),"
            " ('b', 1, 8, 'featured'), ('b', 0, 7, 'main'), ('c', 0, 7, 'main'), ('d', 0, 7, 'main')"
        )
        await conn.exec_driver_sql(
            "INSERT INTO listen_genres VALUES ('a', 5), ('a', -3), ('b', -3), ('b', 5), ('c', 5)"
        )
        await conn.commit()
        before = await conn.run_sync(_pairs)
        await conn.run_sync(_to, "head")
        await conn.commit()
        assert await conn.run_sync(_sets) == {
            "a": (((7, "main"), (8, "featured")), (-3, 5)),
            "b": (((7, "main"), (8, "featured")), (-3, 5)),
            "c": (((7, "main"),), (5,)),
            "d": (((7, "main"),), ()),
        }
        pointers = (
            await conn.exec_driver_sql("SELECT listen_id, credit_set_id, genre_set_id FROM listens")
        ).all()
        by_id = {lid: (c, g) for lid, c, g in pointers}
        assert by_id["a"] == by_id["b"] and by_id["d"][1] is None
        assert by_id["a"] == (
            credit_set_id(((7, "main"), (8, "featured"))),
            genre_set_id((5, -3)),
        )
        counts = (
            await conn.exec_driver_sql(
                "SELECT (SELECT count(*) FROM credit_sets), (SELECT count(*) FROM genre_sets)"
            )
        ).one()
        assert tuple(counts) == (3, 3)  # two credits (2 + 1 rows), two genre sets (2 + 1 rows)
        await conn.run_sync(_to, "0004", down=True)
        await conn.commit()
        assert await conn.run_sync(_pairs) == before


async def _page_size(eng: AsyncEngine) -> int:
    async with eng.connect() as conn:
        return int((await conn.exec_driver_sql("PRAGMA page_size")).scalar_one())


async def test_new_sqlite_files_get_big_pages_and_old_files_keep_theirs(tmp_path: Path) -> None:
    """A file this code creates has :data:`PAGE_SIZE` pages; a file made with SQLite's default
    (4 KiB) keeps them, since a WAL file's page size cannot change, and migrates as before."""
    fresh = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'new.db'}")
    old_path = tmp_path / "old.db"
    with sqlite3.connect(old_path) as raw:
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("CREATE TABLE t (x)")
    old = create_engine(f"sqlite+aiosqlite:///{old_path}")
    try:
        await migrate(fresh)
        await migrate(old)
        assert await _page_size(fresh) == PAGE_SIZE == 16384
        assert await _page_size(old) == 4096
        async with old.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert {t.name for t in metadata.sorted_tables} <= tables
    finally:
        await fresh.dispose()
        await old.dispose()
