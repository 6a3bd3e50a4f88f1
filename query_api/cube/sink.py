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
from typing import Any

import duckdb
import pyarrow as pa

from projector.folds.cube_rows import CubeWrites, Delete, plan
from query_api.cube import rollup
from schemas.events import Event, ListenEnriched, ListensDeleted

__all__ = ["ApplyResult", "CubeSink"]

_TYPES: dict[str, pa.DataType] = {
    "listen_id": pa.string(),
    "user_name": pa.string(),
    "listened_at": pa.timestamp("s"),
    "track_id": pa.int64(),
    "artist_id": pa.int64(),
    "album_id": pa.int64(),
    "genre_id": pa.int64(),
    "role": pa.string(),
    "duration_secs": pa.int32(),
    "stream_seq": pa.int64(),
}


def _arrow(columns: dict[str, list[Any]]) -> pa.Table:
    return pa.table({name: pa.array(values, type=_TYPES[name]) for name, values in columns.items()})


_TOUCH_SEALED = (ListensDeleted, ListenEnriched)
"""Events whose steps may change facts the rollups already sealed (they write rollup deltas)."""


@dataclass(frozen=True)
class ApplyResult:
    position: int
    added: int
    removed: int


def _insert_facts(con: duckdb.DuckDBPyConnection, w: CubeWrites) -> int:
    if not w.listen_count:
        return 0
    columns = w.listens
    at: list[int] = columns["listened_at"]  # type: ignore[assignment]
    lo, hi = min(at), max(at)
    batch = _arrow(columns)
    con.register("batch_listens", batch)
    fresh = con.execute(
        "INSERT INTO listens SELECT b.* FROM batch_listens b ANTI JOIN ("
        " SELECT listen_id FROM listens WHERE listened_at BETWEEN to_timestamp(?)::TIMESTAMP"
        " AND to_timestamp(?)::TIMESTAMP) l USING (listen_id) RETURNING listen_id",
        [lo, hi],
    ).fetchall()
    con.unregister("batch_listens")
    added = len(fresh)
    if not added:
        return 0
    con.register("fresh", pa.table({"listen_id": pa.array([r[0] for r in fresh], pa.string())}))
    everything = added == w.listen_count
    for table, columns in (("credits", w.credits), ("listen_genres", w.genres)):
        if not columns["listen_id"]:
            continue
        con.register("batch_rows", _arrow(columns))
        if everything:
            con.execute(f"INSERT INTO {table} SELECT * FROM batch_rows")
        else:
            con.execute(f"INSERT INTO {table} SELECT b.* FROM batch_rows b SEMI JOIN fresh USING (listen_id)")
        con.unregister("batch_rows")
    con.unregister("fresh")
    return added


def _insert_dims(
    con: duckdb.DuckDBPyConnection, w: CubeWrites, known: dict[str, set[Any]]
) -> dict[str, set[Any]]:
    """Insert catalogue rows not yet in the cube; returns the keys to remember once committed."""
    new: dict[str, dict[Any, tuple[str, ...]]] = {
        "artists": {k: (v,) for k, v in w.artist_names.items() if k not in known["artists"]},
        "albums": {k: v for k, v in w.albums.items() if k not in known["albums"]},
        "tracks": {k: v for k, v in w.tracks.items() if k not in known["tracks"]},
        "genres": {k: (v,) for k, v in w.genre_names.items() if k not in known["genres"]},
        "users": {u: () for u in w.users if u not in known["users"]},
    }
    columns = {
        "artists": ("name",),
        "albums": ("title", "artist_name"),
        "tracks": ("title", "artist_name"),
        "genres": ("name",),
        "users": (),
    }
    for table, rows in new.items():
        if not rows:
            continue
        key = "name" if table == "users" else "id"
        data: dict[str, pa.Array] = {
            key: pa.array(list(rows), pa.string() if table == "users" else pa.int64())
        }
        for i, column in enumerate(columns[table]):
            data[column] = pa.array([v[i] for v in rows.values()], pa.string())
        con.register("batch_dim", pa.table(data))
        con.execute(f"INSERT INTO {table} SELECT b.* FROM batch_dim b ANTI JOIN {table} t USING ({key})")
        con.unregister("batch_dim")
    for key, value in w.config.items():
        con.execute("INSERT OR REPLACE INTO config VALUES (?, ?)", [key, value])
    return {table: set(rows) for table, rows in new.items() if rows}


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
    on_change: Callable[[ApplyResult], None] | None = None
    _writer: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="cube-writer")
    )
    last_applied_at: datetime | None = None
    rollup_min_tail: int = rollup.MIN_TAIL
    """Fold the all-time rollups once this many events (and a tenth of the facts) are unsealed."""
    background_fold: bool = False
    """Fold on a thread of its own while batches go on (the live cube: a fold of 10M listens takes
    seconds); otherwise right after the batch that made it due (replays, tests: deterministic)."""
    _folder: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="cube-fold")
    )
    _fold_lock: threading.RLock = field(default_factory=threading.RLock)
    """Held by a fold; a batch that writes rollup deltas (tombstones, enrichments) waits for it,
    so a delta is never computed against a rollup position that a running fold is moving."""
    _fold_pending: Future[bool] | None = None
    _known: dict[str, set[Any]] = field(
        default_factory=lambda: {t: set() for t in ("artists", "albums", "tracks", "genres", "users")}
    )
    """Catalogue keys known to be committed (skips re-inserting them; memory grows with the catalogue)."""

    def _position(self, con: duckdb.DuckDBPyConnection | None = None) -> int:
        row = (
            (con or self.con)
            .execute("SELECT stream_seq FROM projection_checkpoint WHERE name = ?", [self.name])
            .fetchall()
        )
        return int(row[0][0]) if row else 0

    async def position(self) -> int:
        return await asyncio.get_running_loop().run_in_executor(self._writer, self._position)

    def apply_sync(self, batch: Sequence[tuple[int, Event]]) -> ApplyResult | None:
        """Apply the events after the checkpoint in one transaction; None when all were applied before."""
        if any(isinstance(ev, _TOUCH_SEALED) for _, ev in batch):
            with self._fold_lock:
                return self._apply_sync(batch)
        return self._apply_sync(batch)

    def _apply_sync(self, batch: Sequence[tuple[int, Event]]) -> ApplyResult | None:
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            done = self._position()
            fresh = [(seq, ev) for seq, ev in batch if seq > done]
            if not fresh:
                con.execute("ROLLBACK")
                return None
            added = removed = 0
            remember: list[dict[str, set[Any]]] = []
            for step in plan(fresh):
                if isinstance(step, Delete):
                    removed += _delete(con, step)
                else:
                    remember.append(_insert_dims(con, step, self._known))
                    added += _insert_facts(con, step)
                    _enrich(con, step)
            position = fresh[-1][0]
            con.execute("INSERT OR REPLACE INTO projection_checkpoint VALUES (?, ?)", [self.name, position])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        for keys in remember:
            for table, new in keys.items():
                self._known[table] |= new
        self.last_applied_at = datetime.now(UTC)
        if self.background_fold:
            if self._fold_pending is None or self._fold_pending.done():
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
                    rollup.fold(cur, position)
                    cur.execute("COMMIT")
                except BaseException:
                    cur.execute("ROLLBACK")
                    raise
                return True
            finally:
                cur.close()

    async def apply(self, batch: Sequence[tuple[int, Event]]) -> int:
        result = await asyncio.get_running_loop().run_in_executor(self._writer, self.apply_sync, batch)
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
