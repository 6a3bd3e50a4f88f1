"""SQL engines for the read model: SQLite by default, MariaDB in production, same code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.dml import Insert

__all__ = ["create_engine", "insert_ignore", "upsert"]


def create_engine(dsn: str, *, pool_size: int = 5) -> AsyncEngine:
    """An async engine; SQLite gets WAL, a busy timeout and its directory created."""
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
