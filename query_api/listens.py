"""Reading listens from the SQL read model: recent, count, one listen, paged history."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from projector.tables import albums, artists, credit_sets, genre_sets, genres, listens, tracks
from scrobbler.errors import BadRequest

__all__ = [
    "ArtistOut",
    "ListenOut",
    "ListenPage",
    "TrackOut",
    "count_listens",
    "decode_cursor",
    "encode_cursor",
    "get_listen",
    "listens_between",
    "recent_listens",
]


class ArtistOut(msgspec.Struct, frozen=True):
    id: str
    name: str
    role: str


class TrackOut(msgspec.Struct, frozen=True):
    id: str
    title: str
    album: str | None = None
    album_id: str | None = None
    album_artist: str | None = None
    album_year: int | None = None
    track_no: int | None = None
    disc_no: int | None = None
    duration_secs: int | None = None
    mbid: str | None = None
    isrc: str | None = None


class ListenOut(msgspec.Struct, frozen=True):
    """One listen with its track, album, credited artists (with roles) and genres."""

    listen_id: str
    user: str
    listened_at: datetime
    track: TrackOut
    artists: list[ArtistOut]
    genres: list[str]
    source: str
    received_at: datetime
    source_track_id: str | None = None
    position_secs: int | None = None
    client: str | None = None
    recording_mbid: str | None = None
    release_mbid: str | None = None
    unresolved: bool = False
    extra: dict[str, Any] | None = None


class ListenPage(msgspec.Struct, frozen=True):
    """A page of history, newest first; pass ``next_cursor`` back as ``cursor`` for the next one."""

    items: list[ListenOut]
    next_cursor: str | None


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _base() -> Select[Any]:
    return select(
        listens,
        tracks.c.title,
        tracks.c.duration_secs.label("track_duration"),
        tracks.c.mbid.label("track_mbid"),
        tracks.c.isrc,
        albums.c.title.label("album_title"),
        albums.c.artist_name.label("album_artist"),
        albums.c.year.label("album_year"),
    ).select_from(
        listens.join(tracks, tracks.c.id == listens.c.track_id).outerjoin(
            albums, albums.c.id == listens.c.album_id
        )
    )


_EXTRA = msgspec.json.Decoder(dict[str, Any])


async def _hydrate(conn: AsyncConnection, rows: Sequence[Any]) -> list[ListenOut]:
    """Attach credits and genres to listen rows: two queries for the whole page."""
    ids = [r.listen_id for r in rows]
    credits: dict[str, list[ArtistOut]] = {i: [] for i in ids}
    tags: dict[str, list[str]] = {i: [] for i in ids}
    if ids:
        for lid, aid, name, role in await conn.execute(
            select(listens.c.listen_id, artists.c.id, artists.c.name, credit_sets.c.role)
            .join(credit_sets, credit_sets.c.set_id == listens.c.credit_set_id)
            .join(artists, artists.c.id == credit_sets.c.artist_id)
            .where(listens.c.listen_id.in_(ids))
            .order_by(listens.c.listen_id, credit_sets.c.position)
        ):
            credits[lid].append(ArtistOut(id=str(aid), name=name, role=role))
        for lid, name in await conn.execute(
            select(listens.c.listen_id, genres.c.name)
            .join(genre_sets, genre_sets.c.set_id == listens.c.genre_set_id)
            .join(genres, genres.c.id == genre_sets.c.genre_id)
            .where(listens.c.listen_id.in_(ids))
            .order_by(listens.c.listen_id, genres.c.name)
        ):
            tags[lid].append(name)
    return [
        ListenOut(
            listen_id=r.listen_id,
            user=r.user_name,
            listened_at=_utc(r.listened_at),
            track=TrackOut(
                id=str(r.track_id),
                title=r.title,
                album=r.album_title,
                album_id=str(r.album_id) if r.album_id is not None else None,
                album_artist=r.album_artist,
                album_year=r.album_year,
                track_no=r.track_no,
                disc_no=r.disc_no,
                duration_secs=r.duration_secs or r.track_duration,
                mbid=r.recording_mbid or r.track_mbid,
                isrc=r.isrc,
            ),
            artists=credits[r.listen_id],
            genres=tags[r.listen_id],
            source=r.source,
            received_at=_utc(r.received_at),
            source_track_id=r.source_track_id,
            position_secs=r.position_secs,
            client=r.client,
            recording_mbid=r.recording_mbid,
            release_mbid=r.release_mbid,
            unresolved=bool(r.unresolved),
            extra=_EXTRA.decode(r.extra) if r.extra else None,
        )
        for r in rows
    ]


async def recent_listens(conn: AsyncConnection, *, user: str | None, limit: int) -> list[ListenOut]:
    stmt = _base().order_by(listens.c.listened_at.desc(), listens.c.listen_id.desc()).limit(limit)
    if user:
        stmt = stmt.where(listens.c.user_name == user)
    return await _hydrate(conn, (await conn.execute(stmt)).all())


async def count_listens(
    conn: AsyncConnection,
    *,
    user: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    stmt = select(func.count()).select_from(listens)
    for cond in _range(user, since, until):
        stmt = stmt.where(cond)
    return int((await conn.execute(stmt)).scalar_one())


async def get_listen(conn: AsyncConnection, listen_id: str) -> ListenOut | None:
    rows = (await conn.execute(_base().where(listens.c.listen_id == listen_id))).all()
    found = await _hydrate(conn, rows)
    return found[0] if found else None


def encode_cursor(listened_at: datetime, listen_id: str) -> str:
    raw = f"{int(_utc(listened_at).timestamp())}|{listen_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        ts, listen_id = raw.split("|", 1)
        return datetime.fromtimestamp(int(ts), tz=UTC), listen_id
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"cursor: {cursor!r} is not a cursor this server gave out") from exc


def _range(user: str | None, since: datetime | None, until: datetime | None) -> list[Any]:
    cond: list[Any] = []
    if user:
        cond.append(listens.c.user_name == user)
    if since is not None:
        cond.append(listens.c.listened_at >= _naive(since))
    if until is not None:
        cond.append(listens.c.listened_at < _naive(until))
    return cond


async def listens_between(
    conn: AsyncConnection,
    *,
    user: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    cursor: str | None = None,
    offset: int | None = None,
    text: str | None = None,
) -> list[ListenOut]:
    """Listens in ``[since, until)``, newest first, after ``cursor`` (keyset) or at ``offset``."""
    stmt = _base()
    for cond in _range(user, since, until):
        stmt = stmt.where(cond)
    if text:
        like = f"%{text.lower()}%"
        stmt = stmt.where(
            or_(
                func.lower(tracks.c.title).like(like),
                func.lower(tracks.c.artist_name).like(like),
                func.lower(albums.c.title).like(like),
            )
        )
    if cursor:
        at, lid = decode_cursor(cursor)
        naive_at = _naive(at)
        stmt = stmt.where(
            or_(
                listens.c.listened_at < naive_at,
                and_(listens.c.listened_at == naive_at, listens.c.listen_id < lid),
            )
        )
    stmt = stmt.order_by(listens.c.listened_at.desc(), listens.c.listen_id.desc()).limit(limit)
    if offset:
        stmt = stmt.offset(offset)
    return await _hydrate(conn, (await conn.execute(stmt)).all())
