"""The Alembic migrations build exactly the schema of ``projector.tables``, on SQLite and MariaDB,
and the newest one goes down and up again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from projector.db import create_engine
from projector.migrate import alembic_config, migrate
from projector.tables import metadata
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


async def test_unread_indexes_go_and_come_back(engine: AsyncEngine) -> None:
    await migrate(engine)
    async with engine.connect() as conn:
        await conn.run_sync(_to, "0002", down=True)
        await conn.commit()
        before = await conn.run_sync(_database_indexes)
        await conn.run_sync(_to, "head")
        await conn.commit()
        after = await conn.run_sync(_database_indexes)
    for table, name, cols in DROPPED_IN_0003:
        assert (name, cols) in before[table]
        assert (name, cols) not in after[table]
    assert after == _model_indexes()
