"""The record of listens sent to ListenBrainz (``lb_exported``), so nothing is sent twice.

This table is not a read model of the stream: it records a side effect on a remote service,
written right after ListenBrainz answered 200 (by the one-shot export, and by the sync consumer
together with its checkpoint). Rebuilding the read model leaves it alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, String, Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from projector.db import insert_ignore
from projector.tables import metadata

__all__ = ["already_exported", "lb_exported", "record_exported"]

lb_exported = Table(
    "lb_exported",
    metadata,
    Column("lb_user", String(64), primary_key=True),
    Column("listen_id", String(36), primary_key=True),
    Column("exported_at", DateTime, nullable=False),
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)


async def already_exported(conn: AsyncConnection, lb_user: str, listen_ids: Sequence[str]) -> set[str]:
    """Which of ``listen_ids`` were already sent to ``lb_user``."""
    if not listen_ids:
        return set()
    rows = await conn.execute(
        select(lb_exported.c.listen_id).where(
            lb_exported.c.lb_user == lb_user, lb_exported.c.listen_id.in_(list(listen_ids))
        )
    )
    return {r[0] for r in rows}


async def record_exported(conn: AsyncConnection, lb_user: str, listen_ids: Iterable[str]) -> None:
    """Remember that ListenBrainz accepted these listens (duplicates ignored)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [{"lb_user": lb_user, "listen_id": lid, "exported_at": now} for lid in listen_ids]
    if rows:
        await conn.execute(insert_ignore(lb_exported), rows)
