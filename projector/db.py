"""SQL engines for the read model: SQLite by default, MariaDB in production, same code."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Table, event
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.dml import Insert

__all__ = [
    "Statement",
    "create_engine",
    "execute_all",
    "insert_ignore",
    "render_insert_ignoring_duplicates",
    "upsert",
]


BULK_CACHE_KIB = 65536
"""Page cache of a SQLite connection that bulk-loads (a replay's shadow): fixed, so memory stays flat."""
BULK_CHECKPOINT_PAGES = 16384
"""WAL pages between a bulk-loading SQLite connection's checkpoints (the default 1,000 copied pages
back to the database file every few batches, a third of the load's time)."""


def create_engine(dsn: str, *, pool_size: int = 5, bulk: bool = False) -> AsyncEngine:
    """An async engine; SQLite gets WAL, a busy timeout and its directory created.

    ``bulk``: the engine loads many rows (a replay's shadow): a bigger page cache and rarer WAL
    checkpoints. Durability is unchanged (each commit is as safe as before).
    """
    if dsn.startswith("sqlite"):
        path = dsn.split(":///", 1)[1] if ":///" in dsn else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(dsn, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=OFF")
            if bulk:
                cur.execute(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")
                cur.execute(f"PRAGMA wal_autocheckpoint={BULK_CHECKPOINT_PAGES}")
            cur.close()

        return engine
    return create_async_engine(
        dsn,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=3600,
        connect_args={"charset": "utf8mb4"},
    )


@lru_cache(maxsize=256)
def _multirow_sql(dialect: str, table: str, columns: tuple[str, ...], keys: tuple[str, ...], n: int) -> str:
    quote = "`{}`".format if dialect == "mysql" else '"{}"'.format
    mark = "%s" if dialect == "mysql" else "?"
    one = "(" + ",".join([mark] * len(columns)) + ")"
    verb = "INSERT" if dialect == "mysql" else "INSERT OR IGNORE"
    head = f"{verb} INTO {quote(table)} ({','.join(map(quote, columns))})"
    tail = ""
    if dialect == "mysql":
        # A no-op update instead of INSERT IGNORE: no warning per duplicate, so no SHOW WARNINGS trip.
        tail = f" ON DUPLICATE KEY UPDATE {quote(keys[0])}={quote(keys[0])}"
    return f"{head} VALUES {','.join([one] * n)}{tail}"


_PROBE = datetime(2009, 2, 13, 23, 31, 30, 123456)  # noqa: DTZ001  (SQL columns hold naive UTC)


def _fast(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``process``, or a faster equal one: SQLite's DATETIME text is ``isoformat(" ")`` of a naive
    datetime with microseconds, built in C instead of a Python ``%`` format (a replay binds two a listen)."""
    if process(_PROBE) != _PROBE.isoformat(" ", "microseconds"):
        return process

    def fast(value: Any) -> Any:
        if type(value) is datetime and value.tzinfo is None:
            return value.isoformat(" ", "microseconds")
        return process(value)

    return fast


Statement = tuple[str, tuple[Any, ...]]
"""SQL for the driver and its parameters, ready to execute."""


def render_insert_ignoring_duplicates(
    dialect: Dialect, table: Table, rows: Sequence[dict[str, Any]], chunk: int = 1000
) -> list[Statement]:
    """Multi-row ``INSERT`` statements for the driver that skip rows whose key exists.

    The hot path of every projection: one statement per ``chunk`` rows, built once per shape
    (no SQLAlchemy compilation per batch, no per-row round trip). Pure, so a projection renders
    the next batch while the previous one executes.
    """
    if not rows:
        return []
    columns = tuple(rows[0])
    keys = tuple(c.name for c in table.primary_key.columns)
    # The column types' own conversions (e.g. SQLite's DATETIME text format), as SQLAlchemy would apply.
    procs = [
        (i, _fast(p) if isinstance(table.c[c].type, DateTime) else p)
        for i, c in enumerate(columns)
        if (p := table.c[c].type.dialect_impl(dialect).bind_processor(dialect))
    ]
    out: list[Statement] = []
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        if procs:
            values = []
            for row in part:
                one = [row[c] for c in columns]
                for i, proc in procs:
                    one[i] = proc(one[i])
                values.extend(one)
            params = tuple(values)
        else:
            params = tuple(row[c] for row in part for c in columns)
        out.append((_multirow_sql(dialect.name, table.name, columns, keys, len(part)), params))
    return out


async def execute_all(conn: AsyncConnection, statements: Sequence[Statement]) -> None:
    """Execute rendered statements in order, on ``conn``'s transaction."""
    for sql, params in statements:
        await conn.exec_driver_sql(sql, params)


def insert_ignore(table: Table) -> Insert:
    """``INSERT`` that skips rows whose key exists (``INSERT IGNORE`` / ``INSERT OR IGNORE``)."""
    return table.insert().prefix_with("IGNORE", dialect="mysql").prefix_with("OR IGNORE", dialect="sqlite")


async def upsert(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]], update: list[str]) -> None:
    """Insert rows, or update the ``update`` columns of those whose key exists (multi-row)."""
    if not rows:
        return
    if conn.dialect.name == "mysql":
        mstmt = mysql.insert(table)
        await conn.execute(mstmt.on_duplicate_key_update({c: mstmt.inserted[c] for c in update}), rows)
    else:
        sstmt = sqlite.insert(table)
        keys = [c.name for c in table.primary_key.columns]
        await conn.execute(
            sstmt.on_conflict_do_update(index_elements=keys, set_={c: sstmt.excluded[c] for c in update}),
            rows,
        )
