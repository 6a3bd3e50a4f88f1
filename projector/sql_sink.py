"""Applies planned steps to the SQL read model: one transaction per batch, checkpoint included."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import and_, delete, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from projector import checkpoint
from projector.db import insert_ignore, upsert
from projector.folds.sql_rows import Delete, Writes, plan
from projector.tables import (
    albums,
    artists,
    config,
    genres,
    jobs,
    listen_artists,
    listen_genres,
    listens,
    tokens,
    tracks,
    users,
)
from schemas.events import Event

__all__ = ["SqlSink"]

log = structlog.get_logger(__name__)

_RETRYABLE = {1213, 1205}
"""MariaDB deadlock victim, lock wait timeout: the transaction was rolled back, safe to retry."""
_ATTEMPTS = 8

_CHUNK = 2000
"""Rows per INSERT statement (well under SQLite's and MariaDB's placeholder limits)."""


async def _insert_ignore(conn: AsyncConnection, table: Any, rows: Sequence[dict[str, Any]]) -> None:
    stmt = insert_ignore(table)
    for start in range(0, len(rows), _CHUNK):
        await conn.execute(stmt, list(rows[start : start + _CHUNK]))


async def _write(conn: AsyncConnection, w: Writes) -> None:
    await _insert_ignore(conn, users, list(w.users.values()))
    await _insert_ignore(conn, artists, list(w.artists.values()))
    await _insert_ignore(conn, albums, list(w.albums.values()))
    await _insert_ignore(conn, tracks, list(w.tracks.values()))
    await _insert_ignore(conn, genres, list(w.genres.values()))
    await _insert_ignore(conn, listens, w.listens)
    await _insert_ignore(conn, listen_artists, w.listen_artists)
    await _insert_ignore(conn, listen_genres, w.listen_genres)
    await upsert(conn, config, list(w.config.values()), ["value", "secret", "updated_at"])
    await upsert(conn, jobs, list(w.jobs.values()), ["status", "progress", "error", "updated_at", "kind"])
    await _insert_ignore(conn, tokens, list(w.tokens.values()))
    for sha, at in w.token_revocations.items():
        await conn.execute(update(tokens).where(tokens.c.token_sha256 == sha).values(revoked_at=at))
    for user, enc in w.passwords.items():
        await conn.execute(update(users).where(users.c.name == user).values(password_enc=enc))
    for row in w.mbid_updates:
        await conn.execute(
            update(listens)
            .where(listens.c.listen_id == row["listen_id"])
            .values(recording_mbid=row["recording_mbid"])
        )


def _matching(d: Delete) -> ColumnElement[bool]:
    cond: list[ColumnElement[bool]] = [listens.c.stream_seq < d.before_seq]
    if d.user is not None:
        cond.append(listens.c.user_name == d.user)
    if d.since is not None:
        cond.append(listens.c.listened_at >= d.since)
    if d.until is not None:
        cond.append(listens.c.listened_at < d.until)
    if d.listen_ids:
        cond.append(listens.c.listen_id.in_(d.listen_ids))
    return and_(*cond)


async def _delete(conn: AsyncConnection, d: Delete) -> None:
    doomed = select(listens.c.listen_id).where(_matching(d))
    await conn.execute(delete(listen_artists).where(listen_artists.c.listen_id.in_(doomed)))
    await conn.execute(delete(listen_genres).where(listen_genres.c.listen_id.in_(doomed)))
    await conn.execute(delete(listens).where(_matching(d)))


@dataclass
class SqlSink:
    """The SQL read model as a projection target named ``name`` (its checkpoint row)."""

    engine: AsyncEngine
    name: str

    async def position(self) -> int:
        async with self.engine.connect() as conn:
            return await checkpoint.load(conn, self.name)

    async def apply(self, batch: Sequence[tuple[int, Event]]) -> int:
        """Apply the events not yet applied, commit them with the new position; return how many.

        Partitioned projectors insert the same catalogue rows concurrently; InnoDB may pick one of
        them as a deadlock victim and roll its transaction back whole, so that one is retried.
        """
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return await self._apply_once(batch)
            except OperationalError as exc:
                code = getattr(exc.orig, "args", (None,))[0]
                if code not in _RETRYABLE or attempt == _ATTEMPTS:
                    raise
                log.warning("transaction rolled back by the database, retrying", sink=self.name,
                            code=code, attempt=attempt)
                await asyncio.sleep(0.05 * attempt)
        raise AssertionError("unreachable")

    async def _apply_once(self, batch: Sequence[tuple[int, Event]]) -> int:
        if not batch:
            return 0
        async with self.engine.begin() as conn:
            done = await checkpoint.load(conn, self.name, for_update=True)
            fresh = [(seq, ev) for seq, ev in batch if seq > done]
            if not fresh:
                return 0
            for step in plan(fresh):
                if isinstance(step, Delete):
                    await _delete(conn, step)
                else:
                    await _write(conn, step)
            await checkpoint.save(conn, self.name, fresh[-1][0])
        return len(fresh)
