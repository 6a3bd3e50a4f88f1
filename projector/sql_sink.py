"""Applies planned steps to the SQL read model: one transaction per batch, checkpoint included."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import structlog
from sqlalchemy import Connection, Engine, and_, delete, update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from projector import checkpoint, heap
from projector.db import Statement, execute_all, render_insert_ignoring_duplicates, upsert_rows
from projector.folds.sql_rows import COLUMNS, Delete, Values, Writes, plan
from projector.genre_additions import add_genres
from projector.tables import (
    albums,
    artists,
    config,
    credit_sets,
    genre_sets,
    genres,
    jobs,
    listens,
    tokens,
    tracks,
    users,
)
from schemas.events import Event, decode_event

if TYPE_CHECKING:
    from projector.writer_process import WriterProcess

__all__ = ["INSERTED", "Planned", "Rendered", "SqlSink", "commit_steps"]

log = structlog.get_logger(__name__)

_RETRYABLE = {1213, 1205}
"""MariaDB deadlock victim, lock wait timeout: the transaction was rolled back, safe to retry."""
_ATTEMPTS = 8

_KNOWN_LIMIT = 200_000
"""Catalogue ids remembered per table as already stored (bounded: memory stays flat)."""


class KnownIds:
    """Catalogue rows this process saw committed, so a batch does not send them again.

    Only an optimisation: forgetting (a restart, the bound) just re-sends rows the database ignores.
    """

    def __init__(self) -> None:
        self.ids: dict[str, set[Any]] = {}

    def unknown(self, table: str, rows: dict[Any, Values]) -> list[Values]:
        known = self.ids.get(table, set())
        # Sorted by key: concurrent partitions then lock catalogue rows in one order (fewer deadlocks).
        return [rows[k] for k in sorted(rows) if k not in known]

    def unknown_sets(self, table: str, sets: dict[int, tuple[Values, ...]]) -> list[Values]:
        """The rows of the sets not known to be stored, sets in key order."""
        known = self.ids.get(table, set())
        return [row for k in sorted(sets) if k not in known for row in sets[k]]

    def remember(self, table: str, keys: Sequence[Any]) -> None:
        known = self.ids.setdefault(table, set())
        if len(known) + len(keys) > _KNOWN_LIMIT:
            known.clear()
        known.update(keys)


@dataclass(frozen=True)
class Rendered:
    """A write step with its multi-row inserts rendered for the driver."""

    step: Writes
    inserts: list[Statement]
    catalogue: dict[str, list[Any]]
    """Catalogue keys the inserts send, remembered once committed."""


@dataclass(frozen=True)
class Planned:
    """A write step with the rows each table of :data:`INSERTED` receives (catalogue rows this
    process has not sent before), to be rendered by whoever writes them: a replay's writer
    process renders them itself (:mod:`projector.writer_process`), off the folding thread."""

    step: Writes
    rows: dict[str, list[Values]]
    catalogue: dict[str, list[Any]]
    """Catalogue keys the rows send, remembered once committed."""
    iso_text: bool = False
    """Whether the rows' DATETIME values are ISO text (as a writer process receives them)."""

    def rendered(self, dialect: Dialect) -> Rendered:
        inserts: list[Statement] = []
        for table in INSERTED:
            inserts += render_insert_ignoring_duplicates(
                dialect, table, COLUMNS[table.name], self.rows[table.name], iso_text=self.iso_text
            )
        return Rendered(self.step, inserts, self.catalogue)


Step = Delete | Rendered | Planned
"""What :meth:`SqlSink.prepare` makes of a batch, step by step."""

_CATALOGUE = (users, artists, albums, tracks, genres)
_SETS = (credit_sets, genre_sets)
INSERTED = (*_CATALOGUE, *_SETS, listens, tokens)
"""Tables a write step inserts into (ignoring duplicates), in the order it does."""


def _planned(w: Writes, known: KnownIds) -> Planned:
    rows: dict[str, list[Values]] = {}
    catalogue: dict[str, list[Any]] = {}
    for table in _CATALOGUE:
        entries: dict[Any, Values] = getattr(w, table.name)
        rows[table.name] = known.unknown(table.name, entries)
        catalogue[table.name] = list(entries)
    for table in _SETS:
        sets: dict[int, tuple[Values, ...]] = getattr(w, table.name)
        rows[table.name] = known.unknown_sets(table.name, sets)
        catalogue[table.name] = list(sets)
    for table in (listens, tokens):
        rows[table.name] = w.inserted(table.name)
    return Planned(w, rows, catalogue)


def _write(conn: Connection, r: Rendered, *, heaps: bool) -> None:
    w = r.step
    execute_all(conn, r.inserts)
    upsert_rows(conn, config, list(w.config.values()), ["value", "secret", "updated_at"])
    upsert_rows(conn, jobs, list(w.jobs.values()), ["status", "progress", "error", "updated_at", "kind"])
    for sha, at in w.token_revocations.items():
        conn.execute(update(tokens).where(tokens.c.token_sha256 == sha).values(revoked_at=at))
    for user, enc in w.passwords.items():
        conn.execute(update(users).where(users.c.name == user).values(password_enc=enc))
    if heaps:
        # No index finds a listen in a heap: MBIDs and genres wait for heap.fill (their sequence decides).
        if w.mbid_updates:
            conn.execute(heap.mbid_updates.insert(), w.mbid_updates)
        heap.defer_genres(conn, w.genre_additions)
        return
    add_genres(conn, w.genre_additions)
    for row in w.mbid_updates:
        # Only a listen that came before the enrichment, whatever the batch boundaries.
        conn.execute(
            update(listens)
            .where(listens.c.listen_id == row["listen_id"], listens.c.stream_seq < row["seq"])
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


def _delete(conn: Connection, d: Delete) -> None:
    # Credit and genre sets stay, as catalogue entries do: other listens share them.
    conn.execute(delete(listens).where(_matching(d)))


@dataclass
class SqlSink:
    """The SQL read model as a projection target named ``name`` (its checkpoint row)."""

    engine: AsyncEngine
    name: str
    prepare_in_thread: ClassVar[bool] = False
    """Its fold holds the GIL throughout: nothing to gain from a thread."""
    known: KnownIds = field(default_factory=KnownIds)
    writer: Engine | None = None
    """A SQLite file's synchronous engine (:func:`projector.db.create_writer`): each batch's
    transaction then runs whole on a worker thread, while the event loop folds the next batch."""
    remote: WriterProcess | None = None
    """A SQLite file written by a process of its own (:mod:`projector.writer_process`: a replay's
    shadow); it tracks the heaps itself."""
    heaps: bool = False
    """The database's big tables are heaps (:mod:`projector.heap`: a replay's SQLite shadow); the
    first tombstone seals them."""

    async def close(self) -> None:
        """Close the writer's connection (the caller disposes ``engine``)."""
        if self.writer is not None:
            await asyncio.to_thread(self.writer.dispose)

    async def position(self) -> int:
        async with self.engine.connect() as conn:
            return await checkpoint.load(conn, self.name)

    def decode(self, data: bytes) -> Event:
        return decode_event(data)

    def prepare(self, batch: Sequence[tuple[int, Event]]) -> list[Step]:
        """The batch folded (:func:`projector.folds.sql_rows.plan`) and its inserts rendered (or,
        for a writer process, their rows chosen), for :meth:`apply`: pure, so a driver prepares the
        next batch while this one commits."""
        if self.remote is not None:
            return [s if isinstance(s, Delete) else _planned(s, self.known) for s in plan(batch)]
        dialect = self.engine.dialect
        return [
            s if isinstance(s, Delete) else _planned(s, self.known).rendered(dialect) for s in plan(batch)
        ]

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
        if self.remote is not None:
            applied, sent = await self._apply_remote(self.remote, batch, prepared)
        elif self.writer is not None:
            applied, sent = await asyncio.to_thread(self._apply_on_writer, batch, prepared)
        else:
            async with self.engine.begin() as conn:
                applied, sent = await conn.run_sync(self._transaction, batch, prepared)
        for table, keys in sent.items():
            self.known.remember(table, keys)
        return applied

    def _apply_on_writer(
        self, batch: Sequence[tuple[int, Event]], prepared: object | None
    ) -> tuple[int, dict[str, list[Any]]]:
        assert self.writer is not None
        with self.writer.begin() as conn:
            return self._transaction(conn, batch, prepared)

    def _transaction(
        self, conn: Connection, batch: Sequence[tuple[int, Event]], prepared: object | None
    ) -> tuple[int, dict[str, list[Any]]]:
        """The batch's events not yet applied, with the new position, in ``conn``'s transaction:
        how many, and the catalogue keys sent (remembered once committed)."""
        done = checkpoint.read(conn, self.name, for_update=True)
        fresh = [(seq, ev) for seq, ev in batch if seq > done]
        if not fresh:
            return 0, {}
        steps = prepared if isinstance(prepared, list) and len(fresh) == len(batch) else self.prepare(fresh)
        self.heaps = commit_steps(conn, self.name, steps, fresh[-1][0], heaps=self.heaps)
        return len(fresh), _sent(steps)

    async def _apply_remote(
        self, remote: WriterProcess, batch: Sequence[tuple[int, Event]], prepared: object | None
    ) -> tuple[int, dict[str, list[Any]]]:
        """:meth:`_transaction` in the writer process, which renders the planned rows itself."""
        steps = prepared if isinstance(prepared, list) else self.prepare(batch)
        while True:
            status, value = await remote.apply(self.name, batch[0][0], batch[-1][0], steps)
            if status == "applied":
                return (len(batch), _sent(steps)) if value else (0, {})
            # The checkpoint covers part of the batch (a resumed run): plan the rest again.
            batch = [(seq, ev) for seq, ev in batch if seq > value]
            steps = self.prepare(batch)


def _sent(steps: Sequence[Step]) -> dict[str, list[Any]]:
    """The catalogue keys the steps' inserts send."""
    sent: dict[str, list[Any]] = {}
    for step in steps:
        if not isinstance(step, Delete):
            for table, keys in step.catalogue.items():
                sent.setdefault(table, []).extend(keys)
    return sent


def commit_steps(conn: Connection, name: str, steps: Sequence[Step], last: int, *, heaps: bool) -> bool:
    """Apply planned steps and move checkpoint ``name`` to ``last``, in ``conn``'s transaction;
    whether the tables are still heaps afterwards (the first tombstone seals them)."""
    for step in steps:
        if isinstance(step, Delete):
            if heaps:
                # A failed transaction ends the replay; a resumed one sees what was committed.
                heap.seal(conn)
                heaps = False
            _delete(conn, step)
        else:
            _write(conn, step.rendered(conn.dialect) if isinstance(step, Planned) else step, heaps=heaps)
    checkpoint.write(conn, name, last)
    return heaps
