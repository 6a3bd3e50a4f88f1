"""The projection position, stored in the same database and transaction as the rows it covers."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from projector.db import upsert
from projector.tables import projection_checkpoint

__all__ = ["load", "load_all", "save"]


async def load(conn: AsyncConnection, name: str, *, for_update: bool = False) -> int:
    """The last stream sequence applied by projection ``name`` (0 when none)."""
    stmt = select(projection_checkpoint.c.stream_seq).where(projection_checkpoint.c.name == name)
    if for_update:
        stmt = stmt.with_for_update()
    value = (await conn.execute(stmt)).scalar_one_or_none()
    return int(value or 0)


async def load_all(conn: AsyncConnection) -> dict[str, int]:
    rows = await conn.execute(select(projection_checkpoint.c.name, projection_checkpoint.c.stream_seq))
    return {name: int(seq) for name, seq in rows}


async def save(conn: AsyncConnection, name: str, seq: int) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    await upsert(
        conn,
        projection_checkpoint,
        [{"name": name, "stream_seq": seq, "updated_at": now}],
        ["stream_seq", "updated_at"],
    )
