"""The shadow SQL read model a replay builds beside the live one, and the atomic switch to it.

The shadow is a second database of the same kind, migrated to the same Alembic head:
``<file>.replay`` next to a SQLite file, ``<db>_replay`` beside a MariaDB database. The
projector's own :class:`~projector.sql_sink.SqlSink` fills it, so a replay runs exactly the code
of incremental projection. The switch:

- MariaDB: one ``RENAME TABLE live.t TO shadow.t__old, shadow.t TO live.t, ...`` statement for
  every table (atomic in MariaDB), then the shadow database (now the old tables) is dropped.
- SQLite: a table cannot be renamed across database files, and swapping the file under open
  connections would break their WAL, so one write transaction on the live file
  drops each table, recreates it with its own DDL, copies the rows from the attached shadow and
  recreates its indexes. Readers keep reading the old snapshot until the commit (WAL).

A SQLite shadow is built without secondary indexes, and its big tables start as heaps
(:mod:`projector.heap`): rows are appended, and the switch inserts them into the live tables in
key order, the first copy of each key only. The first tombstone of the stream seals the heaps
into keyed tables, and the projection carries on as it does on a live database.

``projection_checkpoint`` is one of the swapped tables, so the position travels with the rows.

A SQLite shadow is filled by a process of its own (:mod:`projector.writer_process`) without
waiting for the disk: it is scratch until the switch, whose transaction on the live file is as
durable as every other. Its commits survive the replay being killed; a shadow left by an earlier
boot of the machine is started again instead of resumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import structlog
from sqlalchemy import delete, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from projector import checkpoint, heap
from projector.db import BULK_CACHE_KIB, create_engine, upsert
from projector.migrate import migrate
from projector.tables import projection_checkpoint
from projector.writer_process import WriterProcess

__all__ = ["REPLAY_CHECKPOINT", "Shadow"]

log = structlog.get_logger(__name__)

REPLAY_CHECKPOINT = "sql-replay"
"""Checkpoint row of the shadow while it is being built."""

_SKIP = {"alembic_version", *heap.SIDE_TABLES}
"""Shadow tables that are not the read model's: never copied into the live database."""
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
_DEFAULT_CACHE = -2000
"""SQLite's default page cache (2,000 KiB), given back to the live connection after a switch."""
_SORT_THREADS = min(4, os.cpu_count() or 1) - 1
"""Helper threads SQLite's sorter may use during a switch (besides the connection's own)."""


async def _tables(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda c: inspect(c).get_table_names())
    return sorted(n for n in names if n not in _SKIP and not n.endswith("__old"))


class Shadow:
    """The shadow database of the live read model at ``live_dsn``."""

    def __init__(self, live_dsn: str) -> None:
        self.live_dsn = live_dsn
        self.is_sqlite = live_dsn.startswith("sqlite")
        url = make_url(live_dsn)
        if self.is_sqlite:
            if not url.database or url.database == ":memory:":
                raise ValueError("replay needs a SQLite file, not an in-memory database")
            self.live_path: Path | None = Path(url.database)
            self.path: Path | None = Path(f"{url.database}.replay")
            self.live_db = ""
            self.db = ""
            self.dsn = url.set(database=str(self.path)).render_as_string(hide_password=False)
        else:
            self.live_path = self.path = None
            self.live_db = url.database or ""
            self.db = f"{self.live_db}_replay"
            self.dsn = url.set(database=self.db).render_as_string(hide_password=False)
        self.engine: AsyncEngine | None = None
        self.writer: WriterProcess | None = None
        """The SQLite shadow's writer, a process of its own (:mod:`projector.writer_process`);
        None for MariaDB."""

    # -- lifecycle -------------------------------------------------------------------------

    async def _exists(self, live: AsyncEngine) -> bool:
        if self.path is not None:
            return self.path.exists()
        async with live.connect() as conn:
            found = await conn.execute(
                text("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = :n"),
                {"n": self.db},
            )
            return found.first() is not None

    async def position(self, live: AsyncEngine) -> int | None:
        """How far an unfinished shadow got, or None when there is none to resume."""
        if not await self._exists(live):
            return None
        engine = create_engine(self.dsn, pool_size=1)
        try:
            async with engine.connect() as conn:
                if not await conn.run_sync(lambda c: inspect(c).has_table("projection_checkpoint")):
                    return None
                rows = await checkpoint.load_all(conn)
        finally:
            await engine.dispose()
        return rows.get(REPLAY_CHECKPOINT)

    async def open(self, live: AsyncEngine, *, restart: bool = False) -> int:
        """Resume the unfinished shadow (its position), or start an empty one (0).

        A SQLite shadow is written without waiting for the disk when the machine's boot can be
        told apart (Linux): its commits survive the replay being killed, and a shadow left by an
        earlier boot (a power loss may have torn it) is started again instead of resumed.
        """
        position = None if restart else await self.position(live)
        boot = _boot_id() if self.path is not None else None
        if position is not None and boot is not None and self._boot_marker() != boot:
            log.warning("unfinished replay is from before the machine restarted; starting it again")
            position = None
        if position is None:
            await self.drop(live)
            await self._create(live)
            if boot is not None:
                self._marker_path().write_text(boot)
            position = 0
        self.engine = create_engine(self.dsn, bulk=True)
        if self.path is not None:
            # The writer process finds out itself whether the shadow's tables are still heaps.
            self.writer = await asyncio.to_thread(partial(WriterProcess, self.dsn, synced=boot is None))
        return position

    def _marker_path(self) -> Path:
        return Path(f"{self.path}.boot")

    def _boot_marker(self) -> str | None:
        try:
            return self._marker_path().read_text().strip()
        except OSError:
            return None

    async def _create(self, live: AsyncEngine) -> None:
        if self.path is None:
            async with live.begin() as conn:
                await conn.execute(
                    text(f"CREATE DATABASE `{self.db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
                )
        engine = create_engine(self.dsn, pool_size=1)
        try:
            await migrate(engine)
            async with engine.begin() as conn:
                await checkpoint.save(conn, REPLAY_CHECKPOINT, 0)
                if self.path is not None:
                    await _drop_secondary_indexes(conn)
                    await conn.run_sync(heap.make_heaps)
        finally:
            await engine.dispose()

    async def close(self) -> None:
        if self.writer is not None:
            await asyncio.to_thread(self.writer.close)
            self.writer = None
        if self.engine is not None:
            await self.engine.dispose()
            self.engine = None

    async def drop(self, live: AsyncEngine) -> None:
        """Remove the shadow (an unfinished one, or the old tables after a switch)."""
        await self.close()
        if self.path is not None:
            _unlink_sqlite(self.path)
            return
        async with live.begin() as conn:
            await conn.execute(text(f"DROP DATABASE IF EXISTS `{self.db}`"))

    # -- the switch ------------------------------------------------------------------------

    async def switch(
        self,
        live: AsyncEngine,
        names: list[str],
        catch_up: Callable[[int], Awaitable[int]],
    ) -> int:
        """Make the shadow the live read model, atomically; return its position.

        ``names`` are the live projections' checkpoint rows the shadow takes over (each gets the
        shadow's position). ``catch_up(seq)`` brings the shadow to at least ``seq`` and returns
        its position; the switch calls it when the live model turns out to be further ahead.
        """
        assert self.engine is not None
        if self.path is not None:
            position = await self._switch_sqlite(live, names, catch_up)
        else:
            position = await self._switch_mariadb(live, names, catch_up)
        await self.drop(live)
        return position

    async def _live_max(self, conn: AsyncConnection, names: list[str]) -> int:
        rows = await checkpoint.load_all(conn)
        return max([rows[n] for n in names if n in rows], default=0)

    async def _switch_mariadb(
        self, live: AsyncEngine, names: list[str], catch_up: Callable[[int], Awaitable[int]]
    ) -> int:
        assert self.engine is not None
        async with live.connect() as conn:
            position = await catch_up(await self._live_max(conn, names))
        async with self.engine.begin() as conn:
            await _take_over(conn, names, position)
        tables = await _tables(self.engine)
        live_tables = set(await _tables(live))
        pairs = []
        for t in tables:
            if t in live_tables:
                pairs.append(f"`{self.live_db}`.`{t}` TO `{self.db}`.`{t}__old`")
            pairs.append(f"`{self.db}`.`{t}` TO `{self.live_db}`.`{t}`")
        async with live.connect() as conn:
            await conn.execute(text("RENAME TABLE " + ", ".join(pairs)))
        log.info("read model switched", tables=len(tables), position=position)
        return position

    async def _switch_sqlite(
        self, live: AsyncEngine, names: list[str], catch_up: Callable[[int], Awaitable[int]]
    ) -> int:
        assert self.engine is not None
        assert self.path is not None
        tables = await _tables(self.engine)
        started = time.perf_counter()
        log.info("switching read model: copying the shadow into the live file", tables=len(tables))
        async with live.connect() as base:
            conn = await base.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql("ATTACH DATABASE ? AS shadow", (str(self.path),))
            # Building the live tables' indexes sorts every row; SQLite's sorter keeps up to the
            # page cache in memory before it spills to temporary files.
            await conn.exec_driver_sql(f"PRAGMA main.cache_size=-{BULK_CACHE_KIB}")
            # Sorts (the heaps' rows in key order, each index) may use a helper thread per core.
            await conn.exec_driver_sql(f"PRAGMA threads={_SORT_THREADS}")
            try:
                # Not BEGIN IMMEDIATE: that would lock the attached shadow too, which catch_up
                # writes through its own engine. A write statement locks only the live file.
                await conn.exec_driver_sql("BEGIN")
                try:
                    await conn.exec_driver_sql(
                        "UPDATE main.projection_checkpoint SET stream_seq = stream_seq WHERE name = ?",
                        (REPLAY_CHECKPOINT,),
                    )
                    # Writers of the live file wait from here on: whatever they committed before
                    # is in the live checkpoints, and the shadow catches up past it.
                    position = await catch_up(await self._live_max(conn, names))
                    heaps = await conn.run_sync(heap.has_heaps, "shadow")
                    keyed = {t.name for t in heap.HEAP_TABLES} if heaps else set()
                    indexes: list[str] = []
                    for t in tables:
                        indexes += await _replace_sqlite_table(conn, t, copy=t not in keyed)
                    if heaps:
                        # Rows of the heaps go into their keyed tables in key order, first copies only.
                        await conn.run_sync(heap.fill, "shadow", "main")
                    for sql in indexes:
                        begun = time.perf_counter()
                        await conn.exec_driver_sql(sql)
                        log.info("index built", sql=sql, seconds=round(time.perf_counter() - begun, 2))
                    await _take_over(conn, names, position)
                    await conn.exec_driver_sql("COMMIT")
                except BaseException:
                    await conn.exec_driver_sql("ROLLBACK")
                    raise
            finally:
                await conn.exec_driver_sql("DETACH DATABASE shadow")
                await conn.exec_driver_sql(f"PRAGMA main.cache_size={_DEFAULT_CACHE}")
                await conn.exec_driver_sql("PRAGMA threads=0")
        seconds = round(time.perf_counter() - started, 2)
        log.info("read model switched", tables=len(tables), position=position, seconds=seconds)
        return position


async def _drop_secondary_indexes(conn: AsyncConnection) -> None:
    """A SQLite shadow loads faster without them; the switch recreates the live tables' indexes."""
    rows = await conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    )
    for name, sql in rows.all():  # type: ignore[misc]
        if "UNIQUE" not in str(sql).upper():
            await conn.exec_driver_sql(f'DROP INDEX "{name}"')


def _boot_id() -> str | None:
    """This boot of the machine (Linux), or None where it cannot be told."""
    try:
        return _BOOT_ID.read_text().strip() or None
    except OSError:
        return None


def _unlink_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal", ".boot"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").unlink()


async def _take_over(conn: AsyncConnection, names: list[str], position: int) -> None:
    """The checkpoint rows of the new live model: every live SQL projection at ``position``."""
    now = datetime.now(UTC).replace(tzinfo=None)
    await conn.execute(delete(projection_checkpoint).where(projection_checkpoint.c.name == REPLAY_CHECKPOINT))
    await conn.execute(delete(projection_checkpoint).where(projection_checkpoint.c.name.in_(names)))
    await upsert(
        conn,
        projection_checkpoint,
        [{"name": n, "stream_seq": position, "updated_at": now} for n in names],
        ["stream_seq", "updated_at"],
    )


async def _ddl(conn: AsyncConnection, schema: str, table: str) -> list[tuple[str, str]]:
    """``(type, sql)`` of a table and its indexes, the table first."""
    result = await conn.exec_driver_sql(
        f"SELECT type, sql FROM {schema}.sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL "
        "ORDER BY type = 'index'",
        (table,),
    )
    return [(str(row[0]), str(row[1])) for row in result.all()]  # type: ignore[misc]


async def _columns(conn: AsyncConnection, schema: str, table: str) -> list[str]:
    info = await conn.exec_driver_sql(f'PRAGMA {schema}.table_info("{table}")')
    return [str(row[1]) for row in info.all()]  # type: ignore[misc]


async def _replace_sqlite_table(conn: AsyncConnection, table: str, *, copy: bool) -> list[str]:
    """Replace ``main.<table>`` by an empty table of the live table's exact DDL, filled with
    ``shadow.<table>``'s rows when ``copy``; return its indexes' DDL, to create once it is full.

    When both tables have the same columns in the same order, the copy is ``INSERT INTO t SELECT *
    FROM shadow.t``, which SQLite runs as its transfer optimisation: pages of rows and of the key's
    index are copied in order, instead of each row inserted into a B-tree keyed by a random id
    (an order of magnitude faster on a large table).
    """
    ddl = await _ddl(conn, "main", table) or await _ddl(conn, "shadow", table)
    source = await _columns(conn, "shadow", table)
    await conn.exec_driver_sql(f'DROP TABLE IF EXISTS main."{table}"')
    for kind, sql in ddl:
        if kind == "table":
            await conn.exec_driver_sql(sql)
            if not copy:
                continue
            if await _columns(conn, "main", table) == source:
                statement = f'INSERT INTO main."{table}" SELECT * FROM shadow."{table}"'
            else:
                cols = ", ".join(f'"{c}"' for c in source)
                statement = f'INSERT INTO main."{table}" ({cols}) SELECT {cols} FROM shadow."{table}"'
            await conn.exec_driver_sql(statement)
    return [sql for kind, sql in ddl if kind == "index"]
