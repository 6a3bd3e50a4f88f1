"""Applies planned steps to the SQL read model: one transaction per batch, checkpoint included."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import and_, delete, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from projector import checkpoint
from projector.db import insert_rows_ignoring_duplicates, upsert
from projector.folds.sql_rows import Delete, Step, Writes, plan
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

_KNOWN_LIMIT = 200_000
"""Catalogue ids remembered per table as already stored (bounded: memory stays flat)."""

_insert_ignore = insert_rows_ignoring_duplicates


class KnownIds:
    """Catalogue rows this process saw committed, so a batch does not send them again.

    Only an optimisation: forgetting (a restart, the bound) just re-sends rows the database ignores.
    """

    def __init__(self) -> None:
        self.ids: dict[str, set[Any]] = {}

    def unknown(self, table: str, rows: dict[Any, dict[str, Any]]) -> list[dict[str, Any]]:
        known = self.ids.get(table, set())
        # Sorted by key: concurrent partitions then lock catalogue rows in one order (fewer deadlocks).
        return [rows[k] for k in sorted(rows) if k not in known]

    def remember(self, table: str, keys: Sequence[Any]) -> None:
        known = self.ids.setdefault(table, set())
        if len(known) + len(keys) > _KNOWN_LIMIT:
            known.clear()
        known.update(keys)


async def _write(conn: AsyncConnection, w: Writes, known: KnownIds, sent: dict[str, list[Any]]) -> None:
    for table, rows in (
        (users, w.users),
        (artists, w.artists),
        (albums, w.albums),
        (tracks, w.tracks),
        (genres, w.genres),
    ):
        fresh = known.unknown(table.name, rows)
        await _insert_ignore(conn, table, fresh)
        sent.setdefault(table.name, []).extend(k for k in rows)
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
    known: KnownIds = field(default_factory=KnownIds)

    async def position(self) -> int:
        async with self.engine.connect() as conn:
            return await checkpoint.load(conn, self.name)

    def prepare(self, batch: Sequence[tuple[int, Event]]) -> list[Step]:
        """The batch's steps (:func:`projector.folds.sql_rows.plan`), for :meth:`apply`."""
        return plan(batch)

    async def apply(self, batch: Sequence[tuple[int, Event]], prepared: object | None = None) -> int:
        """Apply the events not yet applied, commit them with the new position; return how many.

        ``prepared``: :meth:`prepare`'s result for this very batch (folded ahead by the driver).

        Partitioned projectors insert the same catalogue rows concurrently; InnoDB may pick one of
        them as a deadlock victim and roll its transaction back whole, so that one is retried.
        """
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return await self._apply_once(batch, prepared)
            except OperationalError as exc:
                code = getattr(exc.orig, "args", (None,))[0]
                if code not in _RETRYABLE or attempt == _ATTEMPTS:
                    raise
                log.warning(
                    "transaction rolled back by the database, retrying",
                    sink=self.name,
                    code=code,
                    attempt=attempt,
                )
                await asyncio.sleep(0.05 * attempt)
        raise AssertionError("unreachable")

    async def _apply_once(self, batch: Sequence[tuple[int, Event]], prepared: object | None) -> int:
        if not batch:
            return 0
        async with self.engine.begin() as conn:
            done = await checkpoint.load(conn, self.name, for_update=True)
            fresh = [(seq, ev) for seq, ev in batch if seq > done]
            if not fresh:
                return 0
            steps = prepared if isinstance(prepared, list) and len(fresh) == len(batch) else plan(fresh)
            sent: dict[str, list[Any]] = {}
            for step in steps:
                if isinstance(step, Delete):
                    await _delete(conn, step)
                else:
                    await _write(conn, step, self.known, sent)
            await checkpoint.save(conn, self.name, fresh[-1][0])
        for table, keys in sent.items():
            self.known.remember(table, keys)
        return len(fresh)
