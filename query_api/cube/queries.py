"""The stats as SQL on the cube: every function takes a DuckDB cursor and returns plain values.

A :class:`Scope` is the filter every statistic shares (user and ``[since, until)``), plus an
optional equality on one column (the entity of a detail page). Ties rank by the other measure,
then by name, then by id, so answers are deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb

from query_api.cube import calendar, rollup
from query_api.cube.models import (
    Discovery,
    GenreTopArtist,
    HeatCell,
    HypeItem,
    KpiValues,
    Point,
    Ranked,
    TimeOfDayItem,
)
from query_api.periods import Window

__all__ = [
    "ENTITY",
    "Scope",
    "active_days",
    "discoveries",
    "entity_summary",
    "heatmap",
    "hype",
    "kpis",
    "ranked",
    "time_of_day",
    "timeline",
    "top_artist_by_genre",
]

Cursor = duckdb.DuckDBPyConnection


@dataclass(frozen=True)
class Entity:
    key: str
    """Column holding the entity's id in the fact tables."""
    table: str
    """Fact table its own stats scan."""
    dim: str
    name: str
    artist: str


ENTITY: dict[str, Entity] = {
    "artists": Entity("artist_id", "credits", "artists", "d.name", "NULL"),
    "albums": Entity("album_id", "listens", "albums", "d.title", "d.artist_name"),
    "tracks": Entity("track_id", "listens", "tracks", "d.title", "d.artist_name"),
    "genres": Entity("genre_id", "listen_genres", "genres", "d.name", "NULL"),
}


def _naive(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC).replace(tzinfo=None) if value is not None else None


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None else None


@dataclass(frozen=True)
class Scope:
    """Which facts a statistic reads."""

    user: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    of: tuple[str, str, int] | None = None
    """(entity kind, id column, id): restrict to one artist/album/track/genre."""

    @classmethod
    def of_window(cls, window: Window, user: str | None) -> Scope:
        return cls(user=user, since=window.since, until=window.until)

    @property
    def all_time(self) -> bool:
        """Unbounded and about no one entity: answered from the rollups (:mod:`query_api.cube.rollup`)."""
        return self.since is None and self.until is None and self.of is None

    def table_for(self, kind: str) -> str:
        """The fact table that answers ``kind`` within this scope."""
        if self.of is None:
            return ENTITY[kind].table
        if self.of[0] == "genres":
            return "listen_genres"
        if kind == "genres":
            return "listen_genres"
        if kind == "artists" or self.of[0] == "artists":
            return "credits"
        return "listens"

    def where(self, *, window: bool = True) -> tuple[str, list[Any]]:
        cond: list[str] = ["TRUE"]
        params: list[Any] = []
        if self.user is not None:
            cond.append("user_name = ?")
            params.append(self.user)
        if window and self.since is not None:
            cond.append("listened_at >= ?")
            params.append(_naive(self.since))
        if window and self.until is not None:
            cond.append("listened_at < ?")
            params.append(_naive(self.until))
        if self.of is not None:
            cond.append(f"{self.of[1]} = ?")
            params.append(self.of[2])
        return " AND ".join(cond), params


def _aggregate(cur: Cursor, kind: str, scope: Scope) -> tuple[str, list[Any]]:
    """SQL of ``(id, listens, secs)`` per entity of ``kind`` within ``scope``."""
    if scope.all_time:
        return rollup.source(kind, scope.user, rollup.rollup_seq(cur))
    e = ENTITY[kind]
    where, params = scope.where()
    return (
        f"SELECT {e.key} AS id, count(*) AS listens, sum(duration_secs) AS secs"
        f" FROM {scope.table_for(kind)} WHERE {where} AND {e.key} IS NOT NULL GROUP BY 1"
    ), params


def ranked(
    cur: Cursor,
    kind: str,
    scope: Scope,
    *,
    by: str = "plays",
    limit: int = 10,
    offset: int = 0,
    q: str | None = None,
) -> tuple[list[Ranked], int]:
    """Top entities of ``kind`` and how many distinct ones the scope holds.

    Without a name filter the ranking runs on ids and numbers only: the rows down to the page's
    last rank (ties on both measures included) come back, only they are named, and the name
    tie-break is applied to them here. Joining every entity's name first costs more than the
    aggregate itself on a large catalogue.
    """
    e = ENTITY[kind]
    agg, params = _aggregate(cur, kind, scope)
    metric, other = ("listens", "secs") if by == "plays" else ("secs", "listens")
    if q:
        rows = cur.execute(
            f"WITH agg AS ({agg}) SELECT agg.id, {e.name} AS name, {e.artist} AS artist, listens, secs,"
            f" count(*) OVER () AS total FROM agg JOIN {e.dim} d ON d.id = agg.id"
            f" WHERE contains(lower({e.name}), lower(?))"
            f" ORDER BY {metric} DESC, {other} DESC, name, agg.id LIMIT ? OFFSET ?",
            [*params, q, limit, offset],
        ).fetchall()
        if rows:
            total = int(rows[0][5])
        elif offset:
            total = int(
                cur.execute(
                    f"WITH agg AS ({agg}) SELECT count(*) FROM agg JOIN {e.dim} d ON d.id = agg.id"
                    f" WHERE contains(lower({e.name}), lower(?))",
                    [*params, q],
                ).fetchall()[0][0]
            )
        else:
            total = 0
        named = [(r[0], r[1], r[2], r[3], r[4]) for r in rows]
    else:
        candidates = cur.execute(
            f"WITH agg AS MATERIALIZED ({agg}),"
            f" edge AS (SELECT {metric} AS em, {other} AS eo FROM agg ORDER BY {metric} DESC, {other} DESC"
            f" LIMIT 1 OFFSET ?)"
            f" SELECT id, listens, secs, (SELECT count(*) FROM agg) FROM agg LEFT JOIN edge ON TRUE"
            f" WHERE em IS NULL OR {metric} > em OR ({metric} = em AND {other} >= eo)",
            [*params, max(limit + offset - 1, 0)],
        ).fetchall()
        total = int(candidates[0][3]) if candidates else 0
        names = {
            r[0]: (r[1], r[2])
            for r in cur.execute(
                f"SELECT d.id, {e.name}, {e.artist} FROM {e.dim} d WHERE d.id IN (SELECT unnest(?::BIGINT[]))",
                [[c[0] for c in candidates]],
            ).fetchall()
        }
        rows_known = [(c[0], *names[c[0]], c[1], c[2]) for c in candidates if c[0] in names]
        first, second = (3, 4) if by == "plays" else (4, 3)
        rows_known.sort(key=lambda r: (-r[first], -r[second], r[1], r[0]))
        named = rows_known[offset : offset + limit]
    items = [
        Ranked(
            rank=offset + i + 1,
            id=str(r[0]),
            name=r[1],
            artist=r[2],
            listens=int(r[3]),
            listening_secs=int(r[4] or 0),
        )
        for i, r in enumerate(named)
    ]
    return items, total


def _midnight(day: date | None) -> datetime | None:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC) if day is not None else None


def _kpis_all_time(cur: Cursor, scope: Scope) -> KpiValues:
    sealed = rollup.rollup_seq(cur)

    def source(kind: str) -> tuple[str, list[Any]]:
        return rollup.source(kind, scope.user, sealed)

    days, params = source("days")
    row = cur.execute(
        f"SELECT count(*), coalesce(sum(listens), 0), coalesce(sum(secs), 0), min(day), max(day) FROM ({days})",
        params,
    ).fetchall()[0]
    distinct: dict[str, int] = {}
    for kind in ("artists", "albums", "tracks", "genres"):
        sql, params = source(kind)
        distinct[kind] = int(cur.execute(f"SELECT count(*) FROM ({sql})", params).fetchall()[0][0])
    listens = int(row[1])
    first, last = (_midnight(d) for d in row[3:5])
    return KpiValues(
        listens=listens,
        listening_secs=int(row[2]),
        artists=distinct["artists"],
        albums=distinct["albums"],
        tracks=distinct["tracks"],
        genres=distinct["genres"],
        active_days=int(row[0]),
        avg_listens_per_day=_per_day(listens, scope, first, last),
    )


def kpis(cur: Cursor, scope: Scope) -> KpiValues:
    if scope.all_time:
        return _kpis_all_time(cur, scope)
    where, params = scope.where()
    row = cur.execute(
        "SELECT count(*), coalesce(sum(duration_secs), 0), count(DISTINCT track_id), count(DISTINCT album_id),"
        f" count(DISTINCT listened_at::DATE), min(listened_at), max(listened_at) FROM listens WHERE {where}",
        params,
    ).fetchall()[0]
    artists = cur.execute(f"SELECT count(DISTINCT artist_id) FROM credits WHERE {where}", params).fetchall()[
        0
    ][0]
    genres = cur.execute(
        f"SELECT count(DISTINCT genre_id) FROM listen_genres WHERE {where}", params
    ).fetchall()[0][0]
    listens = int(row[0])
    return KpiValues(
        listens=listens,
        listening_secs=int(row[1]),
        artists=int(artists),
        albums=int(row[3]),
        tracks=int(row[2]),
        genres=int(genres),
        active_days=int(row[4]),
        avg_listens_per_day=_per_day(listens, scope, row[5], row[6]),
    )


def _per_day(listens: int, scope: Scope, first: datetime | None, last: datetime | None) -> float:
    """Listens per day of the window; an open side ends at the first/last listen's day."""
    if not listens and (scope.since is None or scope.until is None):
        return 0.0
    if first is None or last is None:  # no listens: only reached for a bounded window
        first = last = datetime.now(UTC)
    start = scope.since or datetime.combine(first.date(), datetime.min.time(), tzinfo=UTC)
    end = scope.until or datetime.combine(last.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    days = max((end - start).total_seconds() / 86400, 1.0)
    return round(listens / days, 2)


def timeline(cur: Cursor, scope: Scope, bucket: str, kind: str | None = None) -> list[Point]:
    """Listens and seconds per bucket, every bucket of the window present (zeros included)."""
    table = ENTITY[kind].table if kind else "listens"
    if scope.all_time and kind is None:
        days, params = rollup.source("days", scope.user, rollup.rollup_seq(cur))
        sql = f"SELECT date_trunc('{bucket}', day)::DATE AS start, sum(listens), sum(secs) FROM ({days})"
    else:
        where, params = scope.where()
        sql = (
            f"SELECT date_trunc('{bucket}', listened_at)::DATE AS start, count(*),"
            f" coalesce(sum(duration_secs), 0) FROM {table} WHERE {where}"
        )
    rows = cur.execute(f"{sql} GROUP BY 1 ORDER BY 1", params).fetchall()
    if scope.since is not None:
        first: date | None = scope.since.astimezone(UTC).date()
    else:
        first = rows[0][0] if rows else None
    if scope.until is not None:
        last: date | None = (scope.until.astimezone(UTC) - timedelta(microseconds=1)).date()
    else:
        last = rows[-1][0] if rows else None
    if first is None or last is None or last < first:
        return []
    filled = calendar.fill(
        [(r[0], int(r[1]), int(r[2])) for r in rows], calendar.bucket_starts(first, last, bucket)
    )
    return [Point(start=s, listens=n, listening_secs=secs) for s, n, secs in filled]


def heatmap(cur: Cursor, scope: Scope, tz: str | None = None) -> list[HeatCell]:
    """All 168 weekday x hour cells (in ``tz`` when given, else UTC)."""
    if scope.all_time and not tz:
        hours, params = rollup.source("hours", scope.user, rollup.rollup_seq(cur))
        sql = f"SELECT weekday, hour, sum(listens) FROM ({hours}) GROUP BY 1, 2"
    else:
        where, params = scope.where()
        ts = "listened_at"
        if tz:
            ts = "timezone(?, listened_at::TIMESTAMPTZ)"
            params = [tz, tz, *params]  # once for the weekday, once for the hour
        sql = f"SELECT isodow({ts}) - 1, hour({ts}), count(*) FROM listens WHERE {where} GROUP BY 1, 2"
    found = {(int(r[0]), int(r[1])): int(r[2]) for r in cur.execute(sql, params).fetchall()}
    return [HeatCell(weekday=d, hour=h, listens=found.get((d, h), 0)) for d in range(7) for h in range(24)]


def active_days(cur: Cursor, scope: Scope) -> list[date]:
    if scope.all_time:
        days, params = rollup.source("days", scope.user, rollup.rollup_seq(cur))
        return [r[0] for r in cur.execute(f"SELECT day FROM ({days}) ORDER BY 1", params).fetchall()]
    where, params = scope.where()
    rows = cur.execute(
        f"SELECT DISTINCT listened_at::DATE FROM listens WHERE {where} ORDER BY 1", params
    ).fetchall()
    return [r[0] for r in rows]


def discoveries(cur: Cursor, kind: str, scope: Scope, limit: int) -> list[Discovery]:
    """Entities whose first ever listen (of the user) falls in the window, most played first."""
    e = ENTITY[kind]
    where, params = replace(scope, since=None, until=None).where()
    inside, window_params = replace(scope, user=None, of=None).where()
    sql = (
        f"WITH firsts AS (SELECT {e.key} AS id, min(listened_at) AS first_listen,"
        f" count(*) FILTER (WHERE {inside}) AS listens FROM {e.table} WHERE {where} AND {e.key} IS NOT NULL"
        f" GROUP BY 1)"
        f" SELECT f.id, {e.name}, {e.artist}, f.first_listen, f.listens FROM firsts f JOIN {e.dim} d ON d.id = f.id"
        f" WHERE f.listens > 0 AND {inside.replace('listened_at', 'f.first_listen')}"
        f" ORDER BY f.listens DESC, f.first_listen, 2, f.id LIMIT ?"
    )
    rows = cur.execute(sql, [*window_params, *params, *window_params, limit]).fetchall()
    return [
        Discovery(id=str(r[0]), name=r[1], artist=r[2], first_listen=_aware(r[3]), listens=int(r[4]))  # type: ignore[arg-type]
        for r in rows
    ]


def hype(cur: Cursor, kind: str, scope: Scope, previous: Scope, limit: int) -> list[HypeItem]:
    """Entities whose listens rose most against the previous window."""
    e = ENTITY[kind]
    now_where, now_params = scope.where()
    prev_where, prev_params = previous.where()
    sql = (
        f"WITH cur AS (SELECT {e.key} AS id, count(*) AS n FROM {e.table} WHERE {now_where} AND {e.key} IS NOT NULL"
        f" GROUP BY 1), prev AS (SELECT {e.key} AS id, count(*) AS n FROM {e.table} WHERE {prev_where}"
        f" AND {e.key} IS NOT NULL GROUP BY 1)"
        f" SELECT cur.id, {e.name} AS name, {e.artist}, cur.n, coalesce(prev.n, 0) AS p, cur.n - coalesce(prev.n, 0)"
        f" AS change FROM cur LEFT JOIN prev USING (id) JOIN {e.dim} d ON d.id = cur.id WHERE change > 0"
        f" ORDER BY change DESC, cur.n DESC, name, cur.id LIMIT ?"
    )
    rows = cur.execute(sql, [*now_params, *prev_params, limit]).fetchall()
    return [
        HypeItem(
            id=str(r[0]),
            name=r[1],
            artist=r[2],
            listens=int(r[3]),
            previous_listens=int(r[4]),
            change=int(r[5]),
        )
        for r in rows
    ]


def entity_summary(
    cur: Cursor, kind: str, entity_id: int, scope: Scope
) -> tuple[str, str | None, datetime | None, datetime | None, int, int] | None:
    """(name, artist, first listen, last listen, listens, seconds) of one entity, None if unknown."""
    e = ENTITY[kind]
    found = cur.execute(f"SELECT {e.name}, {e.artist} FROM {e.dim} d WHERE d.id = ?", [entity_id]).fetchall()
    if not found:
        return None
    where, params = replace(scope, of=(kind, e.key, entity_id)).where()
    row = cur.execute(
        f"SELECT min(listened_at), max(listened_at), count(*), coalesce(sum(duration_secs), 0)"
        f" FROM {e.table} WHERE {where}",
        params,
    ).fetchall()[0]
    return found[0][0], found[0][1], _aware(row[0]), _aware(row[1]), int(row[2]), int(row[3])


def top_artist_by_genre(cur: Cursor, scope: Scope) -> list[GenreTopArtist]:
    """The most played (primary) artist of each genre, genres by that artist's listens."""
    where, params = scope.where()
    rows = cur.execute(
        "WITH agg AS (SELECT genre_id, artist_id, count(*) AS n FROM listen_genres"
        f" WHERE {where} GROUP BY 1, 2),"
        " best AS (SELECT g.name AS genre, a.name AS artist, agg.artist_id, agg.n, row_number() OVER ("
        " PARTITION BY agg.genre_id ORDER BY agg.n DESC, a.name, agg.artist_id) AS rn"
        " FROM agg JOIN genres g ON g.id = agg.genre_id JOIN artists a ON a.id = agg.artist_id)"
        " SELECT genre, artist, artist_id, n FROM best WHERE rn = 1 ORDER BY n DESC, genre",
        params,
    ).fetchall()
    return [GenreTopArtist(genre=r[0], artist=r[1], artist_id=str(r[2]), listens=int(r[3])) for r in rows]


PARTS_OF_DAY = {"night": (0, 6), "morning": (6, 12), "afternoon": (12, 18), "evening": (18, 24)}
"""Hours (UTC, [start, end)) of the seed's parts of the day."""


def time_of_day(cur: Cursor, scope: Scope, part: str, limit: int) -> list[TimeOfDayItem]:
    lo, hi = PARTS_OF_DAY[part]
    where, params = scope.where()
    rows = cur.execute(
        "WITH agg AS (SELECT track_id, count(*) AS n FROM listens"
        f" WHERE {where} AND hour(listened_at) >= ? AND hour(listened_at) < ? GROUP BY 1)"
        " SELECT t.title, t.artist_name, agg.n FROM agg JOIN tracks t ON t.id = agg.track_id"
        " ORDER BY agg.n DESC, t.title, t.artist_name, agg.track_id LIMIT ?",
        [*params, lo, hi, limit],
    ).fetchall()
    return [TimeOfDayItem(track=r[0], artist=r[1], listens=int(r[2])) for r in rows]
