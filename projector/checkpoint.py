"""The projection position, stored in the same database and transaction as the rows it covers.

Each operation is a plain function of a synchronous connection (a projection's transaction runs
whole on a SQLite writer thread) with an ``async`` twin for an :class:`AsyncConnection`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, select
from sqlalchemy.ext.asyncio import AsyncConnection

from projector.db import upsert_rows
from projector.tables import projection_checkpoint

__all__ = ["load", "load_all", "read", "save", "write"]


def read(conn: Connection, name: str, *, for_update: bool = False) -> int:
    """The last stream sequence applied by projection ``name`` (0 when none)."""
    stmt = select(projection_checkpoint.c.stream_seq).where(projection_checkpoint.c.name == name)
    if for_update:
        stmt = stmt.with_for_update()
    value = conn.execute(stmt).scalar_one_or_none()
    return int(value or 0)


def write(conn: Connection, name: str, seq: int) -> None:
    """Set projection ``name``'s position to ``seq`` (in the caller's transaction)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    upsert_rows(
        conn,
        projection_checkpoint,
        [{"name": name, "stream_seq": seq, "updated_at": now}],
        ["stream_seq", "updated_at"],
    )


async def load(conn: AsyncConnection, name: str, *, for_update: bool = False) -> int:
    """:func:`read` on an async connection."""
    return await conn.run_sync(read, name, for_update=for_update)


async def load_all(conn: AsyncConnection) -> dict[str, int]:
    rows = await conn.execute(select(projection_checkpoint.c.name, projection_checkpoint.c.stream_seq))
    return {name: int(seq) for name, seq in rows}


async def save(conn: AsyncConnection, name: str, seq: int) -> None:
    """:func:`write` on an async connection."""
    await conn.run_sync(write, name, seq)
