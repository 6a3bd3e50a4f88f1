"""All-time pre-aggregates of the cube: sealed rollups plus the live tail of the facts.

An all-time question scans every fact (10M listens: 60-300 ms per statistic on two cores). The
rollups hold the facts up to ``rollup_seq`` (a stream sequence, in ``cube_meta``) aggregated per
user and per entity, with one extra row per entity for all users (``user_name`` NULL); an answer is
the rollup plus the facts after ``rollup_seq`` (the *tail*, cheap to find: facts are appended in
stream order, so the zone maps on ``stream_seq`` skip every sealed row group).

Rows of a rollup may repeat a key: a tombstone that removes sealed facts appends their counts
negated, an enrichment that tags a sealed listen appends its genre, a fold may append its tail;
readers always ``sum`` and drop keys whose listens reach zero. The sink folds once the tail
outgrows a tenth of the facts (at least :data:`MIN_TAIL` events), so the tail stays a small share
of every answer. Most folds append the tail's aggregates (sorted by user), which costs the tail;
every :data:`COMPACT_EVERY`-th rewrites each rollup with its tail into a new table, one row per
key, sorted by user so one user's rows sit in a few row groups. Rewriting at every fold had cost
the live cube about an eighth of its CPU: the per-user rollups are nearly as large as the facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

__all__ = [
    "COMPACT_EVERY",
    "MIN_TAIL",
    "ROLLUPS",
    "Rollup",
    "delta",
    "fold",
    "fold_due",
    "rollup_seq",
    "source",
]

MIN_TAIL = 50_000
"""Events after ``rollup_seq`` before the sink folds (also the larger of this and facts / 10)."""
COMPACT_EVERY = 4
"""One fold in this many rewrites the rollups compactly; the others append (at most three tails of
a tenth of the facts each wait for the next compaction)."""


@dataclass(frozen=True)
class Rollup:
    table: str
    fact: str
    keys: tuple[tuple[str, str], ...]
    """(expression over the fact table, column in the rollup)."""
    not_null: str | None = None

    @property
    def names(self) -> str:
        return ", ".join(name for _, name in self.keys)

    def exprs(self) -> str:
        return ", ".join(f"{expr} AS {name}" for expr, name in self.keys)

    def ddl(self) -> str:
        types = {"id": "BIGINT", "day": "DATE", "weekday": "TINYINT", "hour": "TINYINT"}
        cols = ", ".join(f"{name} {types[name]} NOT NULL" for _, name in self.keys)
        return (
            f"CREATE TABLE IF NOT EXISTS {self.table} (user_name VARCHAR, {cols},"
            " listens BIGINT NOT NULL, secs BIGINT NOT NULL)"
        )

    def tail_sql(self, where: str, *, per_user: bool = True) -> str:
        """Aggregates of the facts matching ``where``, per user (or over every user they hold)."""
        keys = f"user_name, {self.exprs()}" if per_user else self.exprs()
        not_null = f" AND {self.not_null} IS NOT NULL" if self.not_null else ""
        return (
            f"SELECT {keys}, count(*) AS listens, sum(duration_secs) AS secs"
            f" FROM {self.fact} WHERE {where}{not_null} GROUP BY ALL"
        )


ROLLUPS: dict[str, Rollup] = {
    "artists": Rollup("rollup_artists", "credits", (("artist_id", "id"),)),
    "albums": Rollup("rollup_albums", "listens", (("album_id", "id"),), not_null="album_id"),
    "tracks": Rollup("rollup_tracks", "listens", (("track_id", "id"),)),
    "genres": Rollup("rollup_genres", "listen_genres", (("genre_id", "id"),)),
    "days": Rollup("rollup_days", "listens", (("listened_at::DATE", "day"),)),
    "hours": Rollup(
        "rollup_hours",
        "listens",
        (("(isodow(listened_at) - 1)::TINYINT", "weekday"), ("hour(listened_at)::TINYINT", "hour")),
    ),
}

DDL = "\n".join(r.ddl() + ";" for r in ROLLUPS.values()) + (
    "\nINSERT OR IGNORE INTO cube_meta VALUES ('rollup_seq', '0');"
)


def rollup_seq(cur: duckdb.DuckDBPyConnection) -> int:
    row = cur.execute("SELECT value FROM cube_meta WHERE key = 'rollup_seq'").fetchall()
    return int(row[0][0]) if row else 0


def fold_due(cur: duckdb.DuckDBPyConnection, position: int, min_tail: int = MIN_TAIL) -> bool:
    """Whether the tail after ``rollup_seq`` has outgrown its share of the facts."""
    sealed = rollup_seq(cur)
    tail = position - sealed
    if tail < min_tail:
        return False
    facts = cur.execute("SELECT count(*) FROM listens").fetchall()[0][0]
    return tail * 10 >= facts or tail >= 1_000_000


def fold(cur: duckdb.DuckDBPyConnection, position: int, *, compact: bool | None = None) -> None:
    """Seal the tail up to ``position`` into every rollup (run inside a transaction): append its
    aggregates, or rewrite each rollup with them, one row per key, when ``compact`` (None: every
    :data:`COMPACT_EVERY`-th fold)."""
    sealed = rollup_seq(cur)
    found = cur.execute("SELECT value FROM cube_meta WHERE key = 'rollup_appends'").fetchall()
    appends = int(found[0][0]) if found else 0
    if compact is None:
        compact = appends + 1 >= COMPACT_EVERY
    for r in ROLLUPS.values():
        names = r.names
        if not compact:
            _append(cur, r, "stream_seq > ? AND stream_seq <= ?", [sealed, position], 1)
            continue
        cur.execute(
            f"CREATE TABLE {r.table}__new AS SELECT user_name, {names}, sum(listens)::BIGINT AS listens,"
            f" sum(secs)::BIGINT AS secs FROM ("
            f" SELECT user_name, {names}, listens, secs FROM {r.table} WHERE user_name IS NOT NULL"
            f" UNION ALL {r.tail_sql('stream_seq > ? AND stream_seq <= ?')})"
            f" GROUP BY GROUPING SETS ((user_name, {names}), ({names})) HAVING sum(listens) > 0"
            f" ORDER BY user_name NULLS FIRST, {names}",
            [sealed, position],
        )
        cur.execute(f"DROP TABLE {r.table}")
        cur.execute(f"ALTER TABLE {r.table}__new RENAME TO {r.table}")
    cur.execute("UPDATE cube_meta SET value = ? WHERE key = 'rollup_seq'", [str(position)])
    cur.execute(
        "INSERT OR REPLACE INTO cube_meta VALUES ('rollup_appends', ?)", [str(0 if compact else appends + 1)]
    )


def delta(
    cur: duckdb.DuckDBPyConnection, kinds: tuple[str, ...], where: str, params: list[Any], sign: int
) -> None:
    """Append the aggregates of the *sealed* facts matching ``where`` to the rollups, times ``sign``.

    Called before a tombstone deletes facts (``sign=-1``) and after an enrichment adds genre rows
    to listens already sealed (``sign=1``); facts in the tail need nothing, readers count them.
    """
    sealed = rollup_seq(cur)
    if not sealed:
        return
    for kind in kinds:
        _append(cur, ROLLUPS[kind], f"({where}) AND stream_seq <= ?", [*params, sealed], sign)


def _append(cur: duckdb.DuckDBPyConnection, r: Rollup, where: str, params: list[Any], sign: int) -> None:
    """Append the aggregates of the facts matching ``where``, times ``sign``, to rollup ``r``: per
    user and for everyone, sorted by user."""
    names = r.names
    cur.execute(
        f"INSERT INTO {r.table} SELECT user_name, {names}, ({sign} * sum(listens))::BIGINT,"
        f" ({sign} * sum(secs))::BIGINT FROM ({r.tail_sql(where)})"
        f" GROUP BY GROUPING SETS ((user_name, {names}), ({names}))"
        f" ORDER BY user_name NULLS FIRST, {names}",
        params,
    )


def source(kind: str, user: str | None, sealed: int) -> tuple[str, list[Any]]:
    """SQL (and its parameters) of all-time ``(key columns, listens, secs)`` for ``user`` (None: everyone)."""
    r = ROLLUPS[kind]
    names = r.names
    params: list[Any]
    if user is None:
        rolled, tail_where, params = "user_name IS NULL", "stream_seq > ?", [sealed]
    else:
        rolled, tail_where, params = "user_name = ?", "stream_seq > ? AND user_name = ?", [user, sealed, user]
    sql = (
        f"SELECT {names}, sum(listens)::BIGINT AS listens, sum(secs)::BIGINT AS secs FROM ("
        f"SELECT {names}, listens, secs FROM {r.table} WHERE {rolled}"
        f" UNION ALL {r.tail_sql(tail_where, per_user=False)})"
        f" GROUP BY ALL HAVING sum(listens) > 0"
    )
    return sql, params
