"""Heap tables: how a replay's SQLite shadow loads rows without keeping their keys sorted.

The read model's big tables are keyed by random ids (a listen's id is a hash; catalogue ids are
hashes of names), so each row inserted into them lands at a random place of a B-tree. Once a
table outgrows the page cache, every row costs a page read and a page written back at commit:
at one million listens that is three quarters of a replay's SQLite time, and it grows with the
stream.

So a shadow starts with the tables of :data:`HEAP_TABLES` as *heaps*: the same columns without
a primary key, where a row is appended at the end. The projection's own inserts ("ignore
duplicates") then keep every copy, and :func:`fill` restores the keyed table by inserting the
heap's rows in key order, the first copy of each key first: exactly what inserting them one by
one, ignoring duplicates, would have kept. Sorted inserts append to the B-tree instead of
scattering.

A heap has no index to find a row by, so the two statements of a projection that do find rows
change while heaps are in use:

- A recording MBID learned by an enrichment is appended to :data:`MBID_UPDATES` with the
  enrichment's stream sequence; :func:`fill` gives each listen the last one that came after the
  listen did (what updating the listen in place does).
- Genres learned by an enrichment are appended to :data:`GENRE_ADDITIONS` the same way;
  :func:`fill` applies them in stream order (:mod:`projector.genre_additions`), listen by listen.
- A tombstone first turns the heaps into keyed tables (:func:`seal`), and the projection goes on
  as it does on a live database. Tombstones are rare in a stream; before the first one, nothing
  is ever deleted, which is what makes "the first copy of each key" the projection's answer.
"""

from __future__ import annotations

import time

import structlog
from sqlalchemy import BigInteger, Column, Connection, Index, MetaData, String, Table
from sqlalchemy.schema import CreateTable

from projector.folds.sql_rows import GenreAddition
from projector.genre_additions import add_genres
from projector.tables import albums, artists, credit_sets, genre_sets, genres, listens, tracks

__all__ = [
    "GENRE_ADDITIONS",
    "HEAP_TABLES",
    "MBID_UPDATES",
    "SIDE_TABLES",
    "defer_genres",
    "fill",
    "has_heaps",
    "make_heaps",
    "mbid_updates",
    "seal",
]

HEAP_TABLES: tuple[Table, ...] = (artists, albums, tracks, genres, credit_sets, genre_sets, listens)
"""Tables that only ever receive inserts ignoring duplicates, until a tombstone deletes listens."""
MBID_UPDATES = "replay_mbid_updates"
"""Recording MBIDs learned while the listens are a heap: (stream sequence, listen id, MBID)."""
GENRE_ADDITIONS = "replay_genre_additions"
"""Genres learned while the listens are a heap: (stream sequence, listen id, genre id)."""
_ADDITIONS_AT_ONCE = 5000
"""Listens whose deferred genres :func:`fill` applies in one go (memory stays flat)."""
_HEAP_SUFFIX = "__heap"

log = structlog.get_logger(__name__)

_SIDE = MetaData()
"""The shadow's own tables, not the read model's: Alembic never sees them, a switch never copies them."""

mbid_updates = Table(
    MBID_UPDATES,
    _SIDE,
    Column("seq", BigInteger, nullable=False),
    Column("listen_id", String(36), nullable=False),
    Column("recording_mbid", String(36), nullable=False),
    Index(f"ix_{MBID_UPDATES}", "listen_id", "seq"),
)

genre_additions = Table(
    GENRE_ADDITIONS,
    _SIDE,
    Column("seq", BigInteger, nullable=False),
    Column("listen_id", String(36), nullable=False),
    Column("genre_id", BigInteger, nullable=False),
    Index(f"ix_{GENRE_ADDITIONS}", "listen_id", "seq"),
)

SIDE_TABLES: frozenset[str] = frozenset(_SIDE.tables)
"""Names of the tables that hold what waits for :func:`fill` (kept out of the live database)."""


def _columns(conn: Connection, schema: str, table: str) -> list[str]:
    info = conn.exec_driver_sql(f'PRAGMA {schema}.table_info("{table}")')
    return [str(row[1]) for row in info]


def has_heaps(conn: Connection, schema: str = "main") -> bool:
    """Whether the database's big tables are heaps (a shadow not sealed yet)."""
    info = list(conn.exec_driver_sql(f'PRAGMA {schema}.table_info("{listens.name}")'))
    return bool(info) and not any(row[5] for row in info)  # row[5]: the column's place in the key


def make_heaps(conn: Connection) -> None:
    """Replace the (empty) tables of :data:`HEAP_TABLES` by heaps of the same columns, and
    create :data:`MBID_UPDATES` and :data:`GENRE_ADDITIONS`. ``CREATE TABLE AS`` keeps each
    column's type affinity, so a value reads back from the heap as it would from the keyed table."""
    for table in HEAP_TABLES:
        name = table.name
        conn.exec_driver_sql(f'CREATE TABLE "{name}{_HEAP_SUFFIX}" AS SELECT * FROM "{name}" WHERE 0')
        conn.exec_driver_sql(f'DROP TABLE "{name}"')
        conn.exec_driver_sql(f'ALTER TABLE "{name}{_HEAP_SUFFIX}" RENAME TO "{name}"')
    _SIDE.create_all(conn)


def defer_genres(conn: Connection, additions: list[GenreAddition]) -> None:
    """Keep ``additions`` for :func:`fill` (no index finds their listens in a heap)."""
    if additions:
        conn.execute(
            genre_additions.insert(),
            [{"seq": a.seq, "listen_id": a.listen_id, "genre_id": g} for a in additions for g in a.genre_ids],
        )


def _apply_genres(conn: Connection, source: str) -> None:
    """Apply the genres deferred in schema ``source`` to the main database's listens, a few
    thousand listens at a time, each listen's in stream order."""
    rows = conn.exec_driver_sql(
        f'SELECT seq, listen_id, genre_id FROM {source}."{GENRE_ADDITIONS}" ORDER BY listen_id, seq'
    )
    chunk: list[GenreAddition] = []
    listens_in_chunk = 0
    last: tuple[int, str] | None = None
    for seq, lid, gid in rows:
        if last is not None and (seq, lid) == last:
            chunk[-1] = GenreAddition(seq, lid, (*chunk[-1].genre_ids, gid))
            continue
        if last is None or lid != last[1]:
            if listens_in_chunk == _ADDITIONS_AT_ONCE:
                add_genres(conn, chunk)
                chunk, listens_in_chunk = [], 0
            listens_in_chunk += 1
        chunk.append(GenreAddition(seq, lid, (gid,)))
        last = (seq, lid)
    add_genres(conn, chunk)


def _first_copies(conn: Connection, table: Table, source: tuple[str, str], target: tuple[str, str]) -> None:
    """Insert heap ``source`` (schema, table) into keyed ``target``: the first copy of each key,
    in key order (ties keep heap order, so the first copy wins, as one row at a time would)."""
    cols = ", ".join(f'"{c}"' for c in _columns(conn, *source))
    keys = ", ".join(f'"{c.name}"' for c in table.primary_key.columns)
    started = time.perf_counter()
    conn.exec_driver_sql(
        f'INSERT OR IGNORE INTO {target[0]}."{target[1]}" ({cols})'
        f' SELECT {cols} FROM {source[0]}."{source[1]}" ORDER BY {keys}, rowid'
    )
    log.info("heap copied in key order", table=table.name, seconds=round(time.perf_counter() - started, 2))


def _apply_mbids(conn: Connection, source: str, target: str) -> None:
    """Give each listen of ``target`` the last MBID recorded in ``source`` after the listen came."""
    if conn.exec_driver_sql(f'SELECT 1 FROM {source}."{MBID_UPDATES}" LIMIT 1').first() is None:
        return
    conn.exec_driver_sql(
        f'UPDATE {target}."listens" SET recording_mbid = coalesce(('
        f'SELECT u.recording_mbid FROM {source}."{MBID_UPDATES}" u'
        ' WHERE u.listen_id = "listens".listen_id AND u.seq > "listens".stream_seq'
        " ORDER BY u.seq DESC LIMIT 1), recording_mbid)"
        f' WHERE listen_id IN (SELECT listen_id FROM {source}."{MBID_UPDATES}")'
    )


def fill(conn: Connection, source: str, target: str) -> None:
    """Insert the heaps of schema ``source`` into the keyed, empty tables of schema ``target``,
    then apply the recorded MBIDs and genres (``target`` is the connection's main database). The
    target's secondary indexes are best created afterwards (one sort each)."""
    for table in HEAP_TABLES:
        _first_copies(conn, table, (source, table.name), (target, table.name))
    _apply_mbids(conn, source, target)
    _apply_genres(conn, source)


def seal(conn: Connection) -> None:
    """Turn the heaps of the connection's main database into keyed tables (without secondary
    indexes, as a shadow keeps them), in the caller's transaction."""
    for table in HEAP_TABLES:
        heap = f"{table.name}{_HEAP_SUFFIX}"
        conn.exec_driver_sql(f'ALTER TABLE "{table.name}" RENAME TO "{heap}"')
        conn.execute(CreateTable(table))
        _first_copies(conn, table, ("main", heap), ("main", table.name))
        conn.exec_driver_sql(f'DROP TABLE "{heap}"')
    _apply_mbids(conn, "main", "main")
    _apply_genres(conn, "main")
    for name in sorted(SIDE_TABLES):
        conn.exec_driver_sql(f'DELETE FROM "{name}"')
