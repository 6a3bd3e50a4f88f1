"""The cube as a projection sink: applies planned steps in one DuckDB transaction with its checkpoint.

Writes run on one dedicated thread (DuckDB is synchronous; one writer connection). Facts go in as
Arrow tables, one ``INSERT ... SELECT`` per table: a listen already in the cube is dropped by an
anti-join restricted to the batch's time span (a listen's id fixes its time), so the zone maps
keep the check cheap when listens arrive roughly in time order. The all-time rollups
(:mod:`query_api.cube.rollup`) are kept in the same transactions: tombstones and enrichments that
touch sealed facts append their deltas, and a batch that leaves a long tail folds it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, cast

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from projector.folds.cube_listens import parser
from projector.folds.cube_rows import (
    CREDIT_KEY,
    GENRE_KEY,
    LISTEN_COLUMNS,
    CubeEvent,
    CubeStep,
    CubeWrites,
    Delete,
    catalogue_rows,
    decode,
    plan,
)
from query_api.cube import rollup
from schemas.events import ListenEnriched, ListensDeleted

__all__ = ["FOLD_BACKLOG", "ApplyResult", "CubeSink"]

_TYPES: dict[str, pa.DataType] = {
    "key": pa.int64(),
    "artist_id": pa.int64(),
    "role": pa.string(),
    "genre_id": pa.int64(),
}
"""The key maps' columns (the facts come as Arrow from :mod:`projector.folds.cube_listens`)."""


def _arrow(columns: dict[str, list[Any]]) -> pa.Table:
    return pa.table({name: pa.array(values, type=_TYPES[name]) for name, values in columns.items()})


_TOUCH_SEALED = (ListensDeleted, ListenEnriched)
"""Events whose steps may change facts the rollups already sealed (they write rollup deltas)."""


@dataclass(frozen=True)
class ApplyResult:
    position: int
    added: int
    removed: int


_LISTEN_SELECT = ", ".join(f"b.{c}" for c in LISTEN_COLUMNS)
_INSERT_CREDITS = (
    "INSERT INTO credits SELECT b.listen_id, b.user_name, b.listened_at, c.artist_id, c.role,"
    f" b.track_id, b.album_id, b.duration_secs, b.stream_seq FROM batch_listens b JOIN batch_credits c"
    f" ON b.{CREDIT_KEY} = c.key;\n"
    "INSERT INTO credits SELECT b.listen_id, b.user_name, b.listened_at, b.artist_id, 'primary',"
    f" b.track_id, b.album_id, b.duration_secs, b.stream_seq FROM batch_listens b WHERE b.{CREDIT_KEY} IS NULL"
)
"""A listen's credits: its entry's credit map, or its primary artist alone (no credit key)."""
_INSERT_GENRES = (
    "INSERT INTO listen_genres SELECT b.listen_id, b.user_name, b.listened_at, g.genre_id,"
    f" b.artist_id, b.track_id, b.album_id, b.duration_secs, b.stream_seq FROM batch_listens b"
    f" JOIN batch_genres g ON b.{GENRE_KEY} = g.key"
)


@dataclass(frozen=True)
class _Facts:
    """A write step's facts as Arrow tables (built by :meth:`CubeSink.prepare`, off the writer thread)."""

    listens: pa.Table
    """:data:`LISTEN_COLUMNS` and the two keys."""
    credits: pa.Table
    genres: pa.Table | None


def _facts(w: CubeWrites) -> _Facts | None:
    listens = parser().fold(w)
    if listens is None:
        return None
    return _Facts(
        listens=listens,
        credits=_arrow(w.credit_map()),
        genres=_arrow(w.genre_map()) if w.genre_sets else None,
    )


Prepared = list[tuple[CubeStep, _Facts | None]]
"""A batch folded into steps, each write step with its facts as Arrow tables."""


def _prepare(batch: Sequence[tuple[int, CubeEvent]]) -> Prepared:
    return [(step, None if isinstance(step, Delete) else _facts(step)) for step in plan(batch)]


def _not_held(con: duckdb.DuckDBPyConnection, batch_listens: pa.Table) -> pa.Table:
    """The batch's listens the cube does not hold yet (a redelivery past a lost checkpoint, a
    re-import), found by a probe restricted to the batch's time span (the zone maps prune it)."""
    span = pc.min_max(batch_listens["listened_at"])
    held = con.execute(
        "SELECT listen_id FROM listens WHERE listened_at BETWEEN ? AND ?"
        " AND listen_id IN (SELECT listen_id FROM batch_listens)",
        [span["min"].as_py(), span["max"].as_py()],
    ).fetchall()
    if not held:
        return batch_listens
    gone = pa.array([r[0] for r in held], pa.string())
    return batch_listens.filter(pc.invert(pc.is_in(batch_listens["listen_id"], value_set=gone)))


FOLD_BACKLOG = 100_000
"""A live cube this many events or more behind the stream does not fold its rollups: nobody reads
a cube that is catching up (the query API is not ready until it is live), and folding a tail that
keeps growing had taken about a seventh of the CPU of a cube catching up. Once it is nearly live,
the next batch folds the whole tail at once."""

KNOWN_LIMIT = 1 << 18
"""Keys or ids per kind that a sink remembers (an id costs ~60 bytes: 16 MB for a full set)."""

_DIM_COLUMNS: dict[str, tuple[str, ...]] = {
    "artists": ("name",),
    "albums": ("title", "artist_name"),
    "tracks": ("title", "artist_name"),
    "genres": ("name",),
}


@dataclass
class _Known:
    """What this sink has committed to the catalogue tables, so that a batch only names what is new.

    Entry and genre-set keys are unique for the process's life, so a set of them stands for every
    row they name; the ids catch what several entries share (an artist, an album). While
    ``complete``, the ids are every id the tables hold, and a new row goes in without looking the
    table up. Bounded: past :data:`KNOWN_LIMIT` keys or ids it starts afresh, incomplete, and
    inserts look their ids up in the tables (a join on the whole table: slower, as correct).
    """

    entries: set[int] = field(default_factory=set)
    genre_sets: set[int] = field(default_factory=set)
    users: set[str] = field(default_factory=set)
    ids: dict[str, set[int]] = field(default_factory=lambda: {t: set() for t in _DIM_COLUMNS})
    complete: bool = False

    @classmethod
    def of(cls, con: duckdb.DuckDBPyConnection) -> _Known:
        """Every id the catalogue tables hold, when there are few enough to remember."""
        ids: dict[str, set[int]] = {}
        for t in _DIM_COLUMNS:
            found = con.execute(f"SELECT id FROM {t} LIMIT {KNOWN_LIMIT + 1}").fetchnumpy()["id"]
            if len(found) > KNOWN_LIMIT:
                return cls()
            ids[t] = set(found.tolist())
        return cls(ids=ids, complete=True)

    def remember(self, new: _Known) -> None:
        if max(len(self.entries), *map(len, self.ids.values())) > KNOWN_LIMIT:
            self.entries.clear()
            self.genre_sets.clear()
            for ids in self.ids.values():
                ids.clear()
            self.complete = False
        self.entries |= new.entries
        self.genre_sets |= new.genre_sets
        self.users |= new.users
        for table, ids in new.ids.items():
            self.ids[table] |= ids


def _dim_table(table: str, rows: dict[int, Any]) -> pa.Table:
    """``rows`` (id -> name, or id -> tuple of names) as the Arrow table of catalogue ``table``."""
    data: dict[str, pa.Array] = {"id": pa.array(list(rows), pa.int64())}
    columns = _DIM_COLUMNS[table]
    if len(columns) == 1:
        data[columns[0]] = pa.array(list(rows.values()), pa.string())
    else:
        for i, column in enumerate(columns):
            data[column] = pa.array([v[i] for v in rows.values()], pa.string())
    return pa.table(data)


def _new_catalogue(w: CubeWrites, known: _Known, pending: _Known) -> dict[str, pa.Table]:
    """The catalogue rows (and users) the step brings that the cube may not hold, by table.

    ``pending`` collects what this transaction writes (earlier steps of the batch included), for
    ``known`` to remember once it commits.
    """
    entries = w.entries.keys() - known.entries - pending.entries
    genre_sets = w.genre_sets.keys() - known.genre_sets - pending.genre_sets
    users = w.users - known.users - pending.users
    pending.entries |= entries
    pending.genre_sets |= genre_sets
    pending.users |= users
    rows = catalogue_rows((w.entries[k] for k in entries), (w.genre_sets[k] for k in genre_sets))
    for gid, name in w.enrichment_genres.items():
        rows.genres.setdefault(gid, name)
    named: dict[str, dict[int, Any]] = {
        "artists": rows.artists,
        "albums": rows.albums,
        "tracks": rows.tracks,
        "genres": rows.genres,
    }
    tables: dict[str, pa.Table] = {}
    for table, of_table in named.items():
        new = of_table.keys() - known.ids[table] - pending.ids[table]
        if new:
            pending.ids[table] |= new
            tables[table] = _dim_table(table, {k: of_table[k] for k in new})
    if users:
        tables["users"] = pa.table({"name": pa.array(sorted(users), pa.string())})
    return tables


def _write(
    con: duckdb.DuckDBPyConnection, w: CubeWrites, facts: _Facts | None, known: _Known, pending: _Known
) -> int:
    """Write a step's catalogue rows, listens, credits and genres in one call; the listens added.

    One call of several statements, the Arrow tables read by DuckDB's replacement scans of this
    frame's variables: registering and dropping a view per table, and a GIL round trip per call,
    had cost the writer thread more than the inserts themselves. Credits and genres are the batch
    joined with the step's small key maps (:func:`projector.folds.cube_rows.plan`). A catalogue
    row goes in plainly while ``known`` holds every id of its table, else only where the table
    lacks its id.
    """
    dims = _new_catalogue(w, known, pending)
    dim_artists = dims.get("artists")  # noqa: F841  (the names below are read by the statements)
    dim_albums = dims.get("albums")  # noqa: F841
    dim_tracks = dims.get("tracks")  # noqa: F841
    dim_genres = dims.get("genres")  # noqa: F841
    dim_users = dims.get("users")  # noqa: F841
    statements = [
        f"INSERT INTO {table} SELECT * FROM dim_{table}"
        if known.complete
        else f"INSERT INTO {table} SELECT d.* FROM dim_{table} d ANTI JOIN {table} t USING (id)"
        for table in _DIM_COLUMNS
        if table in dims
    ]
    if "users" in dims:
        statements.append("INSERT OR IGNORE INTO users SELECT * FROM dim_users")
    added = 0
    if facts is not None:
        batch_listens = _not_held(con, facts.listens)
        batch_credits = facts.credits  # noqa: F841
        batch_genres = facts.genres  # noqa: F841
        added = int(batch_listens.num_rows)
        if added:
            statements.append(f"INSERT INTO listens SELECT {_LISTEN_SELECT} FROM batch_listens b")
            statements.append(_INSERT_CREDITS)
            if facts.genres is not None:
                statements.append(_INSERT_GENRES)
    if statements:
        con.execute(";\n".join(statements))
    for key, value in w.config.items():
        con.execute("INSERT OR REPLACE INTO config VALUES (?, ?)", [key, value])
    return added


def _enrich(con: duckdb.DuckDBPyConnection, w: CubeWrites) -> None:
    if not w.enrichments:
        return
    con.register(
        "batch_enrich",
        pa.table(
            {
                "listen_id": pa.array([e[0] for e in w.enrichments], pa.string()),
                "genre_id": pa.array([e[1] for e in w.enrichments], pa.int64()),
            }
        ),
    )
    added = con.execute(
        "INSERT INTO listen_genres SELECT DISTINCT l.listen_id, l.user_name, l.listened_at, e.genre_id,"
        " l.artist_id, l.track_id, l.album_id, l.duration_secs, l.stream_seq"
        " FROM batch_enrich e JOIN listens l USING (listen_id)"
        " ANTI JOIN listen_genres g ON g.listen_id = e.listen_id AND g.genre_id = e.genre_id"
        " RETURNING listen_id, genre_id"
    ).fetchall()
    con.unregister("batch_enrich")
    if not added:
        return
    con.register(
        "enriched",
        pa.table(
            {
                "listen_id": pa.array([r[0] for r in added], pa.string()),
                "genre_id": pa.array([r[1] for r in added], pa.int64()),
            }
        ),
    )
    rollup.delta(
        con,
        ("genres",),
        "EXISTS (SELECT 1 FROM enriched e WHERE e.listen_id = listen_genres.listen_id"
        " AND e.genre_id = listen_genres.genre_id)",
        [],
        1,
    )
    con.unregister("enriched")


def _delete(con: duckdb.DuckDBPyConnection, d: Delete) -> int:
    cond = ["stream_seq < ?"]
    params: list[Any] = [d.before_seq]
    if d.user is not None:
        cond.append("user_name = ?")
        params.append(d.user)
    if d.since is not None:
        cond.append("listened_at >= ?")
        params.append(d.since)
    if d.until is not None:
        cond.append("listened_at < ?")
        params.append(d.until)
    if d.listen_ids:
        cond.append("listen_id IN (SELECT unnest(?::VARCHAR[]))")
        params.append(list(d.listen_ids))
    where = " AND ".join(cond)
    rollup.delta(con, tuple(rollup.ROLLUPS), where, params, -1)
    removed = 0
    for table in ("credits", "listen_genres", "listens"):
        rows = con.execute(f"DELETE FROM {table} WHERE {where}", params).fetchall()
        if table == "listens" and rows:
            removed = int(rows[0][0])
    return removed


@dataclass
class CubeSink:
    """The DuckDB cube as the target of a :class:`projector.runner.Projection` named ``name``."""

    con: duckdb.DuckDBPyConnection
    name: str
    prepare_in_thread: ClassVar[bool] = True
    """Most of :meth:`prepare` is DuckDB parsing listens, without the GIL: the loop reads meanwhile."""
    on_change: Callable[[ApplyResult], None] | None = None
    _writer: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="cube-writer")
    )
    last_applied_at: datetime | None = None
    rollup_min_tail: int = rollup.MIN_TAIL
    """Fold the all-time rollups once this many events (and a tenth of the facts) are unsealed."""
    background_fold: bool = False
    """Fold on a thread of its own while batches go on (the live cube: a fold of 10M listens takes
    seconds), and not while :attr:`backlog` is :data:`FOLD_BACKLOG` or more; otherwise right after
    the batch that made it due (replays, tests: deterministic)."""
    backlog: Callable[[], int] = lambda: 0
    """Events of the stream after the batch just applied (the live cube's projection tells it:
    :attr:`projector.runner.Projection.backlog`)."""
    _folder: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="cube-fold")
    )
    _fold_lock: threading.RLock = field(default_factory=threading.RLock)
    """Held by a fold; a batch that writes rollup deltas (tombstones, enrichments) waits for it,
    so a delta is never computed against a rollup position that a running fold is moving."""
    _fold_pending: Future[bool] | None = None
    _known: _Known | None = None
    """Catalogue entries, genre sets, genres and users known to be committed (not named again)."""
    _committed: int | None = None
    """The checkpoint as of this sink's last commit (only this sink writes it)."""

    def _position(self, con: duckdb.DuckDBPyConnection | None = None) -> int:
        row = (
            (con or self.con)
            .execute("SELECT stream_seq FROM projection_checkpoint WHERE name = ?", [self.name])
            .fetchall()
        )
        return int(row[0][0]) if row else 0

    async def position(self) -> int:
        return await asyncio.get_running_loop().run_in_executor(self._writer, self._position)

    def apply_sync(
        self, batch: Sequence[tuple[int, CubeEvent]], steps: Prepared | None = None
    ) -> ApplyResult | None:
        """Apply the events after the checkpoint in one transaction; None when all were applied before.

        ``steps``: :meth:`prepare`'s fold of this very batch, when the caller folded it already.
        """
        if any(isinstance(ev, _TOUCH_SEALED) for _, ev in batch):
            with self._fold_lock:
                return self._apply_sync(batch, steps)
        return self._apply_sync(batch, steps)

    def _apply_sync(
        self, batch: Sequence[tuple[int, CubeEvent]], steps: Prepared | None
    ) -> ApplyResult | None:
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            done = self._position() if self._committed is None else self._committed
            fresh = batch if batch and batch[0][0] > done else [(s, ev) for s, ev in batch if s > done]
            if not fresh:
                con.execute("ROLLBACK")
                return None
            if steps is None or len(fresh) < len(batch):
                steps = _prepare(fresh)
            added = removed = 0
            if self._known is None:
                self._known = _Known.of(con)
            known, pending = self._known, _Known()
            for step, facts in steps:
                if isinstance(step, Delete):
                    removed += _delete(con, step)
                else:
                    added += _write(con, step, facts, known, pending)
                    _enrich(con, step)
            position = fresh[-1][0]
            updated = con.execute(
                "UPDATE projection_checkpoint SET stream_seq = ? WHERE name = ?", [position, self.name]
            ).fetchall()
            if not updated[0][0]:
                con.execute("INSERT INTO projection_checkpoint VALUES (?, ?)", [self.name, position])
            con.execute("COMMIT")
        except BaseException:
            self._committed = None
            con.execute("ROLLBACK")
            raise
        self._committed = position
        known.remember(pending)
        self.last_applied_at = datetime.now(UTC)
        if self.background_fold:
            idle = self._fold_pending is None or self._fold_pending.done()
            if idle and self.backlog() < FOLD_BACKLOG:  # catching up, the fold waits until nearly live
                self._fold_pending = self._folder.submit(self.fold_if_due, position)
        else:
            self.fold_if_due(position)
        return ApplyResult(position=position, added=added, removed=removed)

    def fold_if_due(self, position: int | None = None, *, force: bool = False) -> bool:
        """Fold the rollups in their own transaction when the tail is long enough; True if it did.

        Runs after the batch committed, so the batch is visible at once; readers see the old
        rollups and the longer tail until this commits (same answers either way). Its own cursor
        is its own DuckDB transaction, so batches of new listens commit while it runs.
        """
        with self._fold_lock:
            cur = self.con.cursor()
            try:
                if position is None:
                    position = self._position(cur)
                if force:
                    if position <= rollup.rollup_seq(cur):
                        return False
                elif not rollup.fold_due(cur, position, self.rollup_min_tail):
                    return False
                cur.execute("BEGIN TRANSACTION")
                try:
                    rollup.fold(cur, position, compact=True if force else None)
                    cur.execute("COMMIT")
                except BaseException:
                    cur.execute("ROLLBACK")
                    raise
                return True
            finally:
                cur.close()

    def decode(self, data: bytes) -> CubeEvent:
        """A stream message as the cube reads it (:func:`projector.folds.cube_rows.decode`)."""
        return decode(data)

    def prepare(self, batch: Sequence[tuple[int, CubeEvent]]) -> Prepared:
        """The batch folded into columns (:func:`projector.folds.cube_rows.plan`) and Arrow tables:
        the caller's thread prepares the next batch while the writer thread inserts this one."""
        return _prepare(batch)

    async def apply(self, batch: Sequence[tuple[int, CubeEvent]], prepared: object | None = None) -> int:
        steps = cast(Prepared, prepared) if isinstance(prepared, list) else None
        result = await asyncio.get_running_loop().run_in_executor(self._writer, self.apply_sync, batch, steps)
        if result is None:
            return 0
        if self.on_change is not None and (result.added or result.removed):
            self.on_change(result)
        return len(batch)

    async def run(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the writer thread (maintenance that must not race a batch)."""
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn)

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        self._folder.shutdown(wait=True)
