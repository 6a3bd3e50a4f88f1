"""Pure fold of a batch of events into the DuckDB stats cube's changes, as columns.

``plan(batch)`` turns ``(stream_seq, event)`` pairs into steps: :class:`CubeWrites` and
tombstones (:class:`Delete`, the SQL fold's semantics: only facts with a lower stream sequence go).

The fold is vectorised: a listen costs one row of listen columns and nothing else. What a listen
shares with every other play of the same track (its catalogue ids, its artist credits) is resolved
once per distinct ``(credits, title, album, album artist)`` into a :class:`CatalogueEntry`,
memoised across batches, and each listen only carries the entry's key; its genre tags likewise
carry a :class:`GenreSet` key. The sink expands credits and genres with one join each inside
DuckDB (:data:`CREDIT_KEY`, :data:`GENRE_KEY`), so a listen with three credits and two genres
costs Python no more than one with one of each.

A listen that comes twice in one step is kept once (the first); the sink drops a listen the cube
already holds. Catalogue ids come from :func:`projector.folds.sql_rows.catalogue_of`, so cube
ids and SQL ids agree. No I/O, no clock; the memos never change a result.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Union, cast, get_args

import msgspec

from projector.folds.sql_rows import catalogue_of
from projector.folds.steps import Delete, split_steps
from schemas.events import (
    ArtistCredit,
    ConfigChanged,
    Event,
    ListenEnriched,
    ListenRecorded,
    PasswordSet,
    TokenIssued,
    UserCreated,
)
from schemas.identity import stable_id
from schemas.listens import primary_artist
from schemas.types import UtcDatetime

__all__ = [
    "CREDIT_KEY",
    "GENRE_KEY",
    "LISTEN_COLUMNS",
    "CatalogueEntry",
    "CatalogueRows",
    "CubeEvent",
    "CubeListen",
    "CubeStep",
    "CubeWrites",
    "Delete",
    "GenreSet",
    "catalogue_rows",
    "decode",
    "plan",
]

LISTEN_COLUMNS = (
    "listen_id",
    "user_name",
    "listened_at",
    "track_id",
    "artist_id",
    "album_id",
    "duration_secs",
    "stream_seq",
)
"""The cube's ``listens`` columns, in table order; the batch carries the two keys after them."""
CREDIT_KEY = "credit_key"
"""Batch column: the :class:`CatalogueEntry` whose credits the listen has."""
GENRE_KEY = "genre_key"
"""Batch column: the :class:`GenreSet` of the listen's tags (null when it has none)."""

MEMO_LIMIT = 1 << 16
"""Entries each memo keeps before it starts afresh (bounds memory: an entry holds a track's names,
~0.5 kB)."""

_keys = itertools.count()


class CubeListen(msgspec.Struct, frozen=True, kw_only=True, gc=False, tag="listen_recorded.v2"):
    """A :class:`~schemas.events.ListenRecorded` as the cube decodes it: only the fields it reads.

    Decoding skips the rest (the time it was received, the source, client metadata...), which
    halves the cost of decoding a listen, the largest share of the cube's fold. What the cube
    does not read is not validated here; the SQL projection decodes every field.
    """

    event_id: str
    user: str
    listened_at: UtcDatetime
    title: str
    artists: tuple[ArtistCredit, ...]
    album: str | None = None
    album_artist: str | None = None
    duration_secs: int | None = None
    genres: tuple[str, ...] = ()


class CubeListenV1(CubeListen, frozen=True, kw_only=True, gc=False, tag="listen_recorded.v1"):
    """Version 1 of a listen, as the cube reads it: version 2 only added a field it does not read."""


CubeEvent = CubeListen | Event
"""What the cube folds: its own decoding of listens, every other event as it is, or whole events
(:func:`plan` takes both kinds of listen)."""

_OTHER_EVENTS = tuple(t for t in get_args(Event) if t is not ListenRecorded)
_DECODER: msgspec.json.Decoder[Any] = msgspec.json.Decoder(Union[(CubeListen, CubeListenV1, *_OTHER_EVENTS)])


def decode(data: bytes) -> CubeEvent:
    """A stream message as the cube folds it (listens of either version as :class:`CubeListen`)."""
    return cast(CubeEvent, _DECODER.decode(data))


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """What every play of one ``(credits, title, album, album artist)`` shares."""

    key: int
    """Unique for the process's life (a memo that starts afresh never reuses one)."""
    track_id: int
    artist_id: int
    """The primary artist."""
    album_id: int | None
    credits: tuple[tuple[int, str, str], ...]
    """(artist id, role, name) per credited artist; an artist credited twice counts once (first role)."""
    track: tuple[str, str]
    """(title, primary artist name)"""
    album: tuple[str, str] | None
    """(title, album artist) when the listen names an album."""


@dataclass(frozen=True, slots=True)
class GenreSet:
    key: int
    genres: tuple[tuple[int, str], ...]
    """(genre id, name) per distinct genre, first spelling kept."""


_entries: dict[tuple[tuple[ArtistCredit, ...], str, str | None, str | None], CatalogueEntry] = {}
_genre_sets: dict[tuple[str, ...], GenreSet] = {}


def _entry(
    artists: tuple[ArtistCredit, ...], title: str, album: str | None, album_artist: str | None
) -> CatalogueEntry:
    track_id, artist_id, album_id, credit_ids = catalogue_of(artists, title, album, album_artist)
    primary = primary_artist(artists)
    credits: dict[int, tuple[int, str, str]] = {}
    for aid, credit in zip(credit_ids, artists, strict=True):
        credits.setdefault(aid, (aid, credit.role, credit.name))
    if len(_entries) >= MEMO_LIMIT:
        _entries.clear()
    entry = _entries[(artists, title, album, album_artist)] = CatalogueEntry(
        key=next(_keys),
        track_id=track_id,
        artist_id=artist_id,
        album_id=album_id,
        credits=tuple(credits.values()),
        track=(title, primary),
        album=(album, album_artist or primary) if album_id is not None and album is not None else None,
    )
    return entry


def genre_set(names: tuple[str, ...]) -> GenreSet:
    """The memoised :class:`GenreSet` of a listen's (or an enrichment's) genre names."""
    found = _genre_sets.get(names)
    if found is not None:
        return found
    ids: dict[int, tuple[int, str]] = {}
    for name in names:
        gid = stable_id("genre", name)
        ids.setdefault(gid, (gid, name))
    if len(_genre_sets) >= MEMO_LIMIT:
        _genre_sets.clear()
    found = _genre_sets[names] = GenreSet(key=next(_keys), genres=tuple(ids.values()))
    return found


@dataclass
class CubeWrites:
    """New facts (one row per listen) and what they refer to, ready for the bulk insert."""

    rows: list[tuple[object, ...]] = field(default_factory=list)
    """:data:`LISTEN_COLUMNS` then :data:`CREDIT_KEY` and :data:`GENRE_KEY`, one tuple per listen."""
    entries: dict[int, CatalogueEntry] = field(default_factory=dict)
    """The catalogue entries the rows refer to, by key."""
    genre_sets: dict[int, GenreSet] = field(default_factory=dict)
    enrichments: list[tuple[str, int]] = field(default_factory=list)
    """(listen id, genre id) learned after the listen (the sink copies the listen's columns)."""
    enrichment_genres: dict[int, str] = field(default_factory=dict)
    users: set[str] = field(default_factory=set)
    config: dict[str, str] = field(default_factory=dict)
    _seen: set[str] = field(default_factory=set)

    def empty(self) -> bool:
        return not (self.rows or self.enrichments or self.users or self.config)

    @property
    def listen_count(self) -> int:
        return len(self.rows)

    def columns(self) -> dict[str, list[object]]:
        """The rows as columns, :data:`LISTEN_COLUMNS` + the two keys."""
        names = (*LISTEN_COLUMNS, CREDIT_KEY, GENRE_KEY)
        if not self.rows:
            return {name: [] for name in names}
        return {name: list(values) for name, values in zip(names, zip(*self.rows, strict=True), strict=True)}

    def credit_map(self) -> dict[str, list[object]]:
        """(credit key, artist id, role) for every credit of the entries in this step."""
        keys: list[object] = []
        artists: list[object] = []
        roles: list[object] = []
        for entry in self.entries.values():
            for aid, role, _ in entry.credits:
                keys.append(entry.key)
                artists.append(aid)
                roles.append(role)
        return {"key": keys, "artist_id": artists, "role": roles}

    def genre_map(self) -> dict[str, list[object]]:
        """(genre key, genre id) for every genre set in this step."""
        keys: list[object] = []
        genres: list[object] = []
        for gs in self.genre_sets.values():
            for gid, _ in gs.genres:
                keys.append(gs.key)
                genres.append(gid)
        return {"key": keys, "genre_id": genres}

    def add_listen(self, seq: int, ev: ListenRecorded | CubeListen) -> None:
        lid = ev.event_id
        if lid in self._seen:
            return
        self._seen.add(lid)
        entry = _entries.get((ev.artists, ev.title, ev.album, ev.album_artist))
        if entry is None:
            entry = _entry(ev.artists, ev.title, ev.album, ev.album_artist)
        self.entries[entry.key] = entry
        genre_key = None
        if ev.genres:
            gs = genre_set(ev.genres)
            self.genre_sets[gs.key] = gs
            genre_key = gs.key
        user = ev.user
        self.users.add(user)
        self.rows.append(
            (
                lid,
                user,
                ev.listened_at,
                entry.track_id,
                entry.artist_id,
                entry.album_id,
                ev.duration_secs or 0,
                seq,
                entry.key,
                genre_key,
            )
        )

    def add_enrichment(self, ev: ListenEnriched) -> None:
        for gid, name in genre_set(ev.genres).genres:
            self.enrichment_genres.setdefault(gid, name)
            self.enrichments.append((ev.listen_id, gid))


CubeStep = CubeWrites | Delete


@dataclass
class CatalogueRows:
    """The catalogue rows (names of ids) that some catalogue entries and genre sets bring."""

    artists: dict[int, str] = field(default_factory=dict)
    tracks: dict[int, tuple[str, str]] = field(default_factory=dict)
    """track id -> (title, artist)"""
    albums: dict[int, tuple[str, str]] = field(default_factory=dict)
    """album id -> (title, album artist)"""
    genres: dict[int, str] = field(default_factory=dict)


def catalogue_rows(entries: Iterable[CatalogueEntry], genre_sets: Iterable[GenreSet]) -> CatalogueRows:
    """The rows naming what ``entries`` and ``genre_sets`` refer to (first name of an id kept)."""
    rows = CatalogueRows()
    artists, tracks, albums, genres = rows.artists, rows.tracks, rows.albums, rows.genres
    for entry in entries:
        for aid, _, name in entry.credits:
            artists.setdefault(aid, name)
        tracks.setdefault(entry.track_id, entry.track)
        if entry.album is not None and entry.album_id is not None:
            albums.setdefault(entry.album_id, entry.album)
    for gs in genre_sets:
        for gid, name in gs.genres:
            genres.setdefault(gid, name)
    return rows


def _apply(w: CubeWrites, seq: int, event: CubeEvent) -> None:
    match event:
        case CubeListen() | ListenRecorded():
            w.add_listen(seq, event)
        case ListenEnriched():
            w.add_enrichment(event)
        case UserCreated() | TokenIssued() | PasswordSet():
            w.users.add(event.user)
        case ConfigChanged():
            # Secrets never enter the cube; the stats only read plain keys (e.g. default_user).
            if not event.secret:
                w.config[event.key] = event.value
        case _:
            pass


def plan(batch: Sequence[tuple[int, CubeEvent]]) -> list[CubeStep]:
    """The steps that bring the cube from before the batch to after it, in stream order."""
    return split_steps(batch, CubeWrites, _apply)
