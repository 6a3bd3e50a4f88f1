"""Pure fold of a batch of events into the DuckDB stats cube's changes, as columns.

``plan(batch)`` turns ``(stream_seq, event)`` pairs into steps: :class:`CubeWrites` and
tombstones (:class:`Delete`, the SQL fold's semantics: only facts with a lower stream sequence go).

The fold is vectorised. A listen stays the message it came as (:func:`decode` does not decode
it); a step's listens are parsed together by :mod:`projector.folds.cube_listens` into one row of
columns each. What a listen shares with every other play of the same track (its catalogue ids,
its artist credits) is resolved once per distinct ``(credits, title, album, album artist)`` into
a :class:`CatalogueEntry` (:func:`entry_of`), memoised across batches, and each listen only
carries the entry's key; its genre tags likewise carry a :class:`GenreSet` key. The sink expands
credits and genres with one join each inside DuckDB (:data:`CREDIT_KEY`, :data:`GENRE_KEY`), so a
listen with three credits and two genres costs no more than one with one of each.

A listen that comes twice in one step is kept once (the first); the sink drops a listen the cube
already holds. Catalogue ids come from :func:`projector.folds.sql_rows.catalogue_of`, so cube
ids and SQL ids agree. No I/O, no clock; the memos never change a result.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import cast

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
    decode_event,
    encode_event,
)
from schemas.identity import stable_id
from schemas.listens import primary_artist

__all__ = [
    "CREDIT_KEY",
    "GENRE_KEY",
    "LISTEN_COLUMNS",
    "CatalogueEntry",
    "CatalogueRows",
    "CubeEvent",
    "CubeStep",
    "CubeWrites",
    "Delete",
    "GenreSet",
    "catalogue_rows",
    "decode",
    "entry_of",
    "genre_set",
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
"""Entries each memo keeps (bounds memory: an entry holds a track's names, ~0.5 kB). The parser's
memos of catalogue entries and genre sets then forget their least recently used keys; the module's
own genre-set memo starts afresh."""

_keys = itertools.count()


_LISTEN_TAGS = (b'{"type":"listen_recorded.v2"', b'{"type":"listen_recorded.v1"')
"""How a listen's message starts (msgspec writes the tag first): the cube parses those in bulk."""

CubeEvent = bytes | Event
"""What the cube folds: a listen as its message (both versions read alike: version 2 only added a
field the cube does not read), every other event decoded; whole listens are taken too."""


def decode(data: bytes) -> CubeEvent:
    """A stream message as the cube folds it: a listen stays its bytes, other events are decoded.

    A listen written some other way (not by msgspec) is decoded, and :func:`plan` writes it back.
    """
    if data.startswith(_LISTEN_TAGS):
        return data
    return decode_event(data)


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """What every play of one ``(credits, title, album, album artist)`` shares."""

    key: int
    """Unique for the process's life (an entry forgotten and made again gets a new one)."""
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
    columns: tuple[int, int, int | None, int | None]
    """(track id, artist id, album id, :data:`CREDIT_KEY`) as each of its listens carries them. No
    credit key when the primary artist alone is credited, as primary: the sink writes that credit
    from the listen's own columns, and :meth:`CubeWrites.credit_map` leaves the entry out."""


@dataclass(frozen=True, slots=True)
class GenreSet:
    key: int
    genres: tuple[tuple[int, str], ...]
    """(genre id, name) per distinct genre, first spelling kept."""


_genre_sets: dict[tuple[str, ...], GenreSet] = {}


def entry_of(
    artists: tuple[ArtistCredit, ...], title: str, album: str | None, album_artist: str | None
) -> CatalogueEntry:
    """A new :class:`CatalogueEntry` (with a key of its own) for one ``(credits, title, album, album artist)``."""
    track_id, artist_id, album_id, credit_ids, _ = catalogue_of(artists, title, album, album_artist)
    primary = primary_artist(artists)
    credits: dict[int, tuple[int, str, str]] = {}
    for aid, credit in zip(credit_ids, artists, strict=True):
        credits.setdefault(aid, (aid, credit.role, credit.name))
    key = next(_keys)
    credited = tuple(credits.values())
    alone = len(credited) == 1 and credited[0][:2] == (artist_id, "primary")
    return CatalogueEntry(
        key=key,
        track_id=track_id,
        artist_id=artist_id,
        album_id=album_id,
        credits=credited,
        track=(title, primary),
        album=(album, album_artist or primary) if album_id is not None and album is not None else None,
        columns=(track_id, artist_id, album_id, None if alone else key),
    )


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
    """A step's new listens (as their messages) and everything else it writes.

    :meth:`projector.folds.cube_listens.ListenParser.fold` turns ``listens`` into facts and fills
    ``entries``, ``genre_sets`` and ``users`` from them.
    """

    listens: list[tuple[int, bytes]] = field(default_factory=list)
    """(stream sequence, message) of each listen, in stream order."""
    entries: dict[int, CatalogueEntry] = field(default_factory=dict)
    """The catalogue entries the listens refer to, by key."""
    genre_sets: dict[int, GenreSet] = field(default_factory=dict)
    enrichments: list[tuple[str, int]] = field(default_factory=list)
    """(listen id, genre id) learned after the listen (the sink copies the listen's columns)."""
    enrichment_genres: dict[int, str] = field(default_factory=dict)
    users: set[str] = field(default_factory=set)
    config: dict[str, str] = field(default_factory=dict)

    def empty(self) -> bool:
        return not (self.listens or self.enrichments or self.users or self.config)

    def credit_map(self) -> dict[str, list[object]]:
        """(credit key, artist id, role) for every credit of the entries in this step that have a
        credit key (the others credit their primary artist alone)."""
        keys: list[object] = []
        artists: list[object] = []
        roles: list[object] = []
        for entry in self.entries.values():
            if entry.columns[3] is None:
                continue
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
        case bytes():
            w.listens.append((seq, event))
        case ListenRecorded():
            w.listens.append((seq, encode_event(event)))
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
    if batch and set(map(type, map(itemgetter(1), batch))) == {bytes}:  # listens only: the usual batch
        return [CubeWrites(listens=cast(list[tuple[int, bytes]], list(batch)))]
    return split_steps(batch, CubeWrites, _apply)
