"""SQL engines for the read model: SQLite by default, MariaDB in production, same code."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import lru_cache
from itertools import chain
from operator import methodcaller
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import Column, Connection, DateTime, Engine, Table, event, make_url
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import QueuePool
from sqlalchemy.sql.dml import Insert

__all__ = [
    "Statement",
    "create_engine",
    "create_writer",
    "execute_all",
    "insert_ignore",
    "render_insert_ignoring_duplicates",
    "upsert",
    "upsert_rows",
]


BULK_CACHE_KIB = 65536
"""Page cache of a SQLite connection that bulk-loads (a replay's shadow): fixed, so memory stays flat."""
PAGE_SIZE = 16384
"""Page size of a SQLite file this code creates (SQLite's default is 4,096). A replay's switch
writes the whole read model, and SQLite reads and writes a page per system call: at 10M listens
16 KiB pages took the system time of the switch's statements from 38.9 s to 23.5 s. A page size
is fixed when the file is created; older files keep theirs."""
BULK_CHECKPOINT_PAGES = 64 * 1024 * 1024 // PAGE_SIZE
"""WAL pages (64 MiB) between a bulk-loading SQLite connection's checkpoints (the default 1,000 copied pages
back to the database file every few batches, a third of the load's time)."""


def _sqlite_path(dsn: str) -> str:
    """The file of a SQLite DSN (its directory created), or "" for an in-memory database."""
    path = dsn.split(":///", 1)[1] if ":///" in dsn else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return path
    return ""


def _set_pragmas(engine: Engine, *, bulk: bool, synced: bool = True) -> None:
    """WAL, a busy timeout, and for ``bulk`` a bigger page cache and rarer checkpoints; commits
    synced to disk at WAL checkpoints unless ``synced`` is False."""

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA page_size={PAGE_SIZE}")  # before WAL: a new file's header is written then
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={'NORMAL' if synced else 'OFF'}")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=OFF")
        if bulk:
            cur.execute(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")
            cur.execute(f"PRAGMA wal_autocheckpoint={BULK_CHECKPOINT_PAGES}")
        cur.close()


def create_engine(dsn: str, *, pool_size: int = 5, bulk: bool = False) -> AsyncEngine:
    """An async engine; SQLite gets WAL, a busy timeout and its directory created.

    ``bulk``: the engine loads many rows (a replay's shadow): a bigger page cache and rarer WAL
    checkpoints. Durability is unchanged (each commit is as safe as before).
    """
    if dsn.startswith("sqlite"):
        _sqlite_path(dsn)
        engine = create_async_engine(dsn, connect_args={"timeout": 30})
        _set_pragmas(engine.sync_engine, bulk=bulk)
        return engine
    return create_async_engine(
        dsn,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=3600,
        connect_args={"charset": "utf8mb4"},
    )


def create_writer(dsn: str, *, bulk: bool = False, synced: bool = True) -> Engine | None:
    """For a SQLite file, a synchronous engine of one connection that a projection writes through
    from a worker thread (None otherwise).

    ``synced=False`` never waits for the disk (``PRAGMA synchronous=OFF``): a commit survives the
    process being killed, not the machine stopping. Only for a file that is rebuilt from the stream
    after a restart of the machine (a replay's shadow).

    aiosqlite hands each statement to its thread from the event loop, so a transaction advances
    only while the loop is free: the next batch's fold (pure Python, holding the loop) and SQLite's
    work then take turns. A whole transaction on a thread of its own runs while the loop folds.
    """
    if not dsn.startswith("sqlite"):
        return None
    path = _sqlite_path(dsn)
    if not path:
        return None
    url = make_url(dsn).set(drivername="sqlite")
    engine = sa_create_engine(
        url,
        poolclass=QueuePool,
        pool_size=1,
        max_overflow=0,
        connect_args={"timeout": 30, "check_same_thread": False},
    )
    _set_pragmas(engine, bulk=bulk, synced=synced)
    return engine


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
_ISO = methodcaller("isoformat", " ", "microseconds")


def _converter(column: Column[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    """The column type's own bind conversion (e.g. SQLite's DATETIME text), as SQLAlchemy would
    apply it, or a faster equal one: for a naive datetime with microseconds, SQLite's DATETIME text
    is ``isoformat(" ")``, called in C (a listen binds two). A replay's writer process, which gets
    them as text, uses :func:`_text_converter` instead."""
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    if process is None or not isinstance(column.type, DateTime) or process(_PROBE) != _ISO(_PROBE):
        return process
    if not column.nullable:
        return _ISO  # the fold puts a naive datetime in every NOT NULL DATETIME column

    def fast(value: Any) -> Any:
        if type(value) is datetime and value.tzinfo is None:
            return _ISO(value)
        return process(value)

    return fast


_SECONDS_LEN = len("2009-02-13 23:31:30")


def _sqlite_text(iso: str) -> str:
    """SQLite's DATETIME text of a naive datetime given as msgspec encodes one: ISO 8601 with a
    ``T``, microseconds only when there are some (``2009-02-13T23:31:30[.123456]``)."""
    text = iso.replace("T", " ", 1)
    return text if len(text) > _SECONDS_LEN else text + ".000000"


def _text_converter(column: Column[Any], dialect: Dialect) -> Callable[[Any], Any]:
    """:func:`_converter` for a DATETIME column whose values come as msgspec's ISO text: a string
    operation instead of parsing the text and formatting the datetime again."""
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    whole = _PROBE.replace(microsecond=0)
    if process is not None and all(
        process(d) == _sqlite_text(msgspec.msgpack.decode(msgspec.msgpack.encode(d))) for d in (_PROBE, whole)
    ):
        if not column.nullable:
            return _sqlite_text
        return lambda value: None if value is None else _sqlite_text(value)
    parse, bind = datetime.fromisoformat, _converter(column, dialect) or _same
    return lambda value: None if value is None else bind(parse(value))


def _same(value: Any) -> Any:
    return value


Statement = tuple[str, tuple[Any, ...]]
"""SQL for the driver and its parameters, ready to execute."""


def render_insert_ignoring_duplicates(
    dialect: Dialect,
    table: Table,
    columns: tuple[str, ...],
    rows: Sequence[tuple[Any, ...]],
    chunk: int = 1000,
    *,
    iso_text: bool = False,
) -> list[Statement]:
    """Multi-row ``INSERT`` statements for the driver that skip rows whose key exists.

    ``rows`` are tuples of the ``columns`` values; with ``iso_text``, DATETIME values are the ISO
    text msgspec encodes a naive datetime as (the rows a replay's writer process receives). The
    hot path of every projection: one statement per ``chunk`` rows, built once per shape (no
    SQLAlchemy compilation per batch, no per-row round trip), the parameters flattened in C and
    converted a column at a time. Pure, so a projection renders the next batch while the previous
    one executes.
    """
    if not rows:
        return []
    keys = tuple(c.name for c in table.primary_key.columns)
    width = len(columns)
    convert = [(i, f) for i, c in enumerate(columns) if (f := _bind_converter(table.c[c], dialect, iso_text))]
    out: list[Statement] = []
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        params = list(chain.from_iterable(part))
        for i, f in convert:
            params[i::width] = map(f, params[i::width])
        out.append((_multirow_sql(dialect.name, table.name, columns, keys, len(part)), tuple(params)))
    return out


def _bind_converter(column: Column[Any], dialect: Dialect, iso_text: bool) -> Callable[[Any], Any] | None:
    if iso_text and isinstance(column.type, DateTime):
        return _text_converter(column, dialect)
    return _converter(column, dialect)


def execute_all(conn: Connection, statements: Sequence[Statement]) -> None:
    """Execute rendered statements in order, on ``conn``'s transaction."""
    for sql, params in statements:
        conn.exec_driver_sql(sql, params)


def insert_ignore(table: Table) -> Insert:
    """``INSERT`` that skips rows whose key exists (``INSERT IGNORE`` / ``INSERT OR IGNORE``)."""
    return table.insert().prefix_with("IGNORE", dialect="mysql").prefix_with("OR IGNORE", dialect="sqlite")


def upsert_rows(conn: Connection, table: Table, rows: list[dict[str, Any]], update: list[str]) -> None:
    """Insert rows, or update the ``update`` columns of those whose key exists (multi-row)."""
    if not rows:
        return
    if conn.dialect.name == "mysql":
        mstmt = mysql.insert(table)
        conn.execute(mstmt.on_duplicate_key_update({c: mstmt.inserted[c] for c in update}), rows)
    else:
        sstmt = sqlite.insert(table)
        keys = [c.name for c in table.primary_key.columns]
        conn.execute(
            sstmt.on_conflict_do_update(index_elements=keys, set_={c: sstmt.excluded[c] for c in update}),
            rows,
        )


async def upsert(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]], update: list[str]) -> None:
    """:func:`upsert_rows` on an async connection."""
    if rows:
        await conn.run_sync(upsert_rows, table, rows, update)
