"""Pure fold of a batch of events into the SQL read model's changes.

``plan(batch)`` turns ``(stream_seq, event)`` pairs into a short list of steps: row writes
(inserted with "ignore duplicates", so a listen seen twice is stored once) and tombstones
(deleting only rows older than the tombstone's sequence). Consecutive writes merge into one
step, so a batch without tombstones is one multi-row write per table. No I/O, no clock.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import msgspec

from projector.folds.steps import Delete, naive_utc, split_steps
from schemas.events import (
    ArtistCredit,
    ConfigChanged,
    Event,
    JobUpdated,
    LibraryFileIndexed,
    ListenEnriched,
    ListenRecorded,
    ListensDeleted,
    PasswordSet,
    TokenIssued,
    TokenRevoked,
    UserCreated,
)
from schemas.identity import credit_set_id, genre_set_id, stable_id
from schemas.listens import primary_artist

__all__ = [
    "COLUMNS",
    "Delete",
    "GenreAddition",
    "Row",
    "Step",
    "Values",
    "Writes",
    "catalogue_ids",
    "catalogue_ids_of",
    "catalogue_of",
    "naive_utc",
    "plan",
]

Row = dict[str, Any]
Values = tuple[Any, ...]
"""One row to insert, in the order of its table's :data:`COLUMNS` (no dict per row on the hot path)."""
_JSON = msgspec.json.Encoder()

COLUMNS: dict[str, tuple[str, ...]] = {
    "users": ("name", "created_at"),
    "artists": ("id", "name", "mbid"),
    "albums": ("id", "title", "artist_name", "year", "mbid"),
    "tracks": ("id", "title", "artist_name", "duration_secs", "mbid", "isrc"),
    "genres": ("id", "name"),
    "listens": (
        "listen_id",
        "user_name",
        "listened_at",
        "track_id",
        "artist_id",
        "album_id",
        "track_no",
        "disc_no",
        "duration_secs",
        "position_secs",
        "source",
        "source_track_id",
        "client",
        "recording_mbid",
        "release_mbid",
        "unresolved",
        "extra",
        "received_at",
        "stream_seq",
        "credit_set_id",
        "genre_set_id",
    ),
    "credit_sets": ("set_id", "position", "artist_id", "role"),
    "genre_sets": ("set_id", "genre_id"),
    "tokens": ("token_sha256", "user_name", "prefix", "label", "created_at", "revoked_at"),
}
"""The columns each inserted table's rows give, in order (the tables' own order where complete)."""


@dataclass
class Writes:
    """Rows to insert (ignoring duplicates) and rows to upsert, all in one transaction.

    Inserted rows are tuples in the order of :data:`COLUMNS`; catalogue rows are keyed by id, and
    the rows of a credit or genre set by the set's id, so a batch names each entry once.
    :meth:`records` gives them as dicts.
    """

    users: dict[str, Values] = field(default_factory=dict)
    artists: dict[int, Values] = field(default_factory=dict)
    albums: dict[int, Values] = field(default_factory=dict)
    tracks: dict[int, Values] = field(default_factory=dict)
    genres: dict[int, Values] = field(default_factory=dict)
    credit_sets: dict[int, tuple[Values, ...]] = field(default_factory=dict)
    genre_sets: dict[int, tuple[Values, ...]] = field(default_factory=dict)
    listens: list[Values] = field(default_factory=list)
    tokens: dict[str, Values] = field(default_factory=dict)
    config: dict[str, Row] = field(default_factory=dict)
    jobs: dict[str, Row] = field(default_factory=dict)
    token_revocations: dict[str, datetime] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)
    mbid_updates: list[Row] = field(default_factory=list)
    """``seq``, ``listen_id``, ``recording_mbid``: for the listen if it came before ``seq``."""
    genre_additions: list[GenreAddition] = field(default_factory=list)
    """Genres an enrichment adds to a listen that came before it (:mod:`projector.genre_additions`)."""

    def empty(self) -> bool:
        return not any(
            (
                self.users,
                self.listens,
                self.genre_additions,
                self.config,
                self.jobs,
                self.tokens,
                self.token_revocations,
                self.passwords,
                self.mbid_updates,
            )
        )

    def without_rows(self) -> Writes:
        """The writes that are not inserted rows (what remains once those are rendered)."""
        return Writes(
            config=self.config,
            jobs=self.jobs,
            token_revocations=self.token_revocations,
            passwords=self.passwords,
            mbid_updates=self.mbid_updates,
            genre_additions=self.genre_additions,
        )

    def inserted(self, table: str) -> list[Values]:
        """The rows to insert into ``table`` (a name of :data:`COLUMNS`)."""
        if table in _SET_TABLES:
            sets: dict[int, tuple[Values, ...]] = getattr(self, table)
            return [row for members in sets.values() for row in members]
        rows: dict[Any, Values] | list[Values] = getattr(self, table)
        return list(rows.values()) if isinstance(rows, dict) else rows

    def records(self, table: str) -> list[Row]:
        """:meth:`inserted` as dicts of column to value (tests, tools)."""
        cols = COLUMNS[table]
        return [dict(zip(cols, row, strict=True)) for row in self.inserted(table)]


Step = Writes | Delete
_SET_TABLES = ("credit_sets", "genre_sets")


class GenreAddition(NamedTuple):
    """Genres (ids) an enrichment at stream sequence ``seq`` learned for a listen."""

    seq: int
    listen_id: str
    genre_ids: tuple[int, ...]


def catalogue_ids(event: ListenRecorded) -> tuple[int, int, int | None]:
    """(track id, primary artist id, album id) of a listen; every read model uses these."""
    return catalogue_ids_of(event.artists, event.title, event.album, event.album_artist)


def catalogue_ids_of(
    artists: Sequence[ArtistCredit], title: str, album: str | None, album_artist: str | None
) -> tuple[int, int, int | None]:
    """:func:`catalogue_ids` from the fields it reads."""
    artist = primary_artist(artists)
    track_id = stable_id("track", artist, title)
    artist_id = stable_id("artist", artist)
    album_id = stable_id("album", album_artist or artist, album) if album else None
    return track_id, artist_id, album_id


Catalogue = tuple[int, int, int | None, tuple[int, ...], int]


@functools.lru_cache(maxsize=1 << 16)
def catalogue_of(
    artists: tuple[ArtistCredit, ...], title: str, album: str | None, album_artist: str | None
) -> Catalogue:
    """(track id, primary artist id, album id, artist id of each credit, credit set id).

    Memoised, bounded (memory stays flat): the same catalogue entries recur in every batch, and
    one lookup here costs a fifth of the three to five :func:`stable_id` lookups it replaces.
    """
    ids = catalogue_ids_of(artists, title, album, album_artist)
    credit_ids = tuple(stable_id("artist", c.name) for c in artists)
    credit_set = credit_set_id(tuple(zip(credit_ids, (c.role for c in artists), strict=True)))
    return (*ids, credit_ids, credit_set)


def _add_listen(w: Writes, seq: int, ev: ListenRecorded) -> None:
    # Catalogue rows are built only the first time a batch meets them (the hot path of a replay).
    track_id, artist_id, album_id, credit_ids, credit_set = catalogue_of(
        ev.artists, ev.title, ev.album, ev.album_artist
    )
    received = naive_utc(ev.occurred_at)
    lid = ev.event_id
    user = ev.user
    if user not in w.users:
        w.users[user] = (user, received)
    credits = ev.artists
    if credit_set not in w.credit_sets:  # a set met before in this batch brought its artists too
        members: list[Values] = []
        for position, aid in enumerate(credit_ids):
            credit = credits[position]
            if aid not in w.artists:
                w.artists[aid] = (aid, credit.name, credit.mbid)
            members.append((credit_set, position, aid, credit.role))
        w.credit_sets[credit_set] = tuple(members)
    if album_id is not None and ev.album is not None and album_id not in w.albums:
        w.albums[album_id] = (
            album_id,
            ev.album,
            ev.album_artist or primary_artist(credits),
            ev.album_year,
            ev.release_mbid,
        )
    if track_id not in w.tracks:
        w.tracks[track_id] = (
            track_id,
            ev.title,
            primary_artist(credits),
            ev.duration_secs,
            ev.recording_mbid,
            ev.isrc,
        )
    genre_set = _add_genre_set(w, ev.genres) if ev.genres else None
    w.listens.append(
        (
            lid,
            user,
            naive_utc(ev.listened_at),
            track_id,
            artist_id,
            album_id,
            ev.track_no,
            ev.disc_no,
            ev.duration_secs,
            ev.position_secs,
            ev.source,
            ev.source_track_id,
            ev.client,
            ev.recording_mbid,
            ev.release_mbid,
            ev.unresolved,
            _JSON.encode(ev.extra).decode() if ev.extra else None,
            received,
            seq,
            credit_set,
            genre_set,
        )
    )


@functools.lru_cache(maxsize=1 << 14)
def genre_ids(names: tuple[str, ...]) -> tuple[int | None, tuple[tuple[int, str], ...]]:
    """The genre set's id and (id, name) of each distinct genre of ``names``, first spelling kept;
    memoised (bounded): a catalogue has few genre sets, each met again in every batch."""
    seen: dict[int, str] = {}
    for name in names:
        seen.setdefault(stable_id("genre", name), name)
    return genre_set_id(tuple(seen)), tuple(seen.items())


def _add_genre_set(w: Writes, names: tuple[str, ...]) -> int | None:
    """The id of the genre set of ``names``, its rows and genres added to the batch's once."""
    set_id, members = genre_ids(names)
    if set_id is not None and set_id not in w.genre_sets:
        _add_genres(w, members)
        w.genre_sets[set_id] = tuple((set_id, gid) for gid, _ in members)
    return set_id


def _add_genres(w: Writes, members: tuple[tuple[int, str], ...]) -> None:
    genres = w.genres
    for gid, name in members:
        if gid not in genres:
            genres[gid] = (gid, name)


def _apply(w: Writes, seq: int, event: Event) -> None:
    if isinstance(event, ListenRecorded):  # most events: no time conversion of their own
        _add_listen(w, seq, event)
        return
    at = naive_utc(event.occurred_at)
    match event:
        case UserCreated():
            w.users.setdefault(event.user, (event.user, at))
        case ConfigChanged():
            w.config[event.key] = {
                "key": event.key,
                "value": event.value,
                "secret": event.secret,
                "updated_at": at,
            }
        case JobUpdated():
            first = w.jobs.get(event.job_id)
            w.jobs[event.job_id] = {
                "job_id": event.job_id,
                "kind": event.kind,
                "status": event.status,
                "user_name": event.user,
                "progress": _JSON.encode(event.progress).decode(),
                "error": event.error,
                "created_at": first["created_at"] if first else at,
                "updated_at": at,
            }
        case TokenIssued():
            w.users.setdefault(event.user, (event.user, at))
            w.tokens[event.token_sha256] = (
                event.token_sha256,
                event.user,
                event.prefix,
                event.label,
                at,
                None,
            )
        case TokenRevoked():
            w.token_revocations[event.token_sha256] = at
        case PasswordSet():
            w.users.setdefault(event.user, (event.user, at))
            w.passwords[event.user] = event.password_enc
        case ListenEnriched():
            if event.genres:
                _, members = genre_ids(event.genres)
                _add_genres(w, members)
                w.genre_additions.append(GenreAddition(seq, event.listen_id, tuple(g for g, _ in members)))
            if event.recording_mbid:
                w.mbid_updates.append(
                    {"seq": seq, "listen_id": event.listen_id, "recording_mbid": event.recording_mbid}
                )
        case LibraryFileIndexed() | ListensDeleted():
            pass


def plan(batch: Sequence[tuple[int, Event]]) -> list[Step]:
    """The steps that bring the SQL read model from before the batch to after it."""
    return split_steps(batch, Writes, _apply)
