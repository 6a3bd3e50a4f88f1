"""Pure fold of a batch of events into the DuckDB stats cube's changes, as columns.

``plan(batch)`` turns ``(stream_seq, event)`` pairs into steps: :class:`CubeWrites` (column
arrays ready for one bulk insert per table) and tombstones (:class:`Delete`, the SQL fold's
semantics: only facts with a lower stream sequence go). A listen that comes twice in one step is
kept once (the first); the sink drops a listen the cube already holds. Catalogue ids come from
:func:`projector.folds.sql_rows.catalogue_ids`, so cube ids and SQL ids agree. No I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

from projector.folds.sql_rows import catalogue_ids
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

__all__ = ["CREDIT_COLUMNS", "GENRE_COLUMNS", "LISTEN_COLUMNS", "CubeStep", "CubeWrites", "Delete", "plan"]


def _epoch(ev: ListenRecorded) -> int:
    return int(ev.listened_at.timestamp())


# Memoised id look-ups: hashing names dominates the fold otherwise (a replay sees each name often).
# Pure functions of their arguments, so the caches never change a result.
@lru_cache(maxsize=1 << 18)
def _name_id(kind: str, name: str) -> int:
    return stable_id(kind, name)


@lru_cache(maxsize=1 << 18)
def _catalogue(
    artists: tuple[ArtistCredit, ...], title: str, album: str | None, album_artist: str | None
) -> tuple[int, int, int | None]:
    probe = ListenRecorded(
        event_id="",
        occurred_at=_EPOCH,
        user="",
        listened_at=_EPOCH,
        title=title,
        artists=artists,
        album=album,
        album_artist=album_artist,
    )
    return catalogue_ids(probe)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
CREDIT_COLUMNS = (
    "listen_id",
    "user_name",
    "listened_at",
    "artist_id",
    "role",
    "track_id",
    "album_id",
    "duration_secs",
    "stream_seq",
)
GENRE_COLUMNS = (
    "listen_id",
    "user_name",
    "listened_at",
    "genre_id",
    "artist_id",
    "track_id",
    "album_id",
    "duration_secs",
    "stream_seq",
)


def _columns(names: tuple[str, ...], rows: list[tuple[object, ...]]) -> dict[str, list[object]]:
    if not rows:
        return {name: [] for name in names}
    return {name: list(values) for name, values in zip(names, zip(*rows, strict=True), strict=True)}


@dataclass
class CubeWrites:
    """New facts (rows, turned into columns for the bulk insert) and catalogue rows."""

    listen_rows: list[tuple[object, ...]] = field(default_factory=list)
    credit_rows: list[tuple[object, ...]] = field(default_factory=list)
    genre_rows: list[tuple[object, ...]] = field(default_factory=list)
    enrichments: list[tuple[str, int]] = field(default_factory=list)
    """(listen id, genre id) learned after the listen (the sink copies the listen's columns)."""
    artist_names: dict[int, str] = field(default_factory=dict)
    albums: dict[int, tuple[str, str]] = field(default_factory=dict)
    """album id -> (title, album artist)"""
    tracks: dict[int, tuple[str, str]] = field(default_factory=dict)
    """track id -> (title, artist)"""
    genre_names: dict[int, str] = field(default_factory=dict)
    users: set[str] = field(default_factory=set)
    config: dict[str, str] = field(default_factory=dict)
    _seen: set[str] = field(default_factory=set)

    def empty(self) -> bool:
        return not (self.listen_rows or self.enrichments or self.users or self.config or self.genre_names)

    @property
    def listen_count(self) -> int:
        return len(self.listen_rows)

    @property
    def listens(self) -> dict[str, list[object]]:
        return _columns(LISTEN_COLUMNS, self.listen_rows)

    @property
    def credits(self) -> dict[str, list[object]]:
        return _columns(CREDIT_COLUMNS, self.credit_rows)

    @property
    def genres(self) -> dict[str, list[object]]:
        return _columns(GENRE_COLUMNS, self.genre_rows)

    def add_listen(self, seq: int, ev: ListenRecorded) -> None:
        lid = ev.event_id
        if lid in self._seen:
            return
        self._seen.add(lid)
        track_id, artist_id, album_id = _catalogue(ev.artists, ev.title, ev.album, ev.album_artist)
        at = _epoch(ev)
        secs = ev.duration_secs or 0
        user = ev.user
        self.users.add(user)
        if track_id not in self.tracks:
            self.tracks[track_id] = (ev.title, primary_artist(ev.artists))
        if album_id is not None and ev.album is not None and album_id not in self.albums:
            self.albums[album_id] = (ev.album, ev.album_artist or primary_artist(ev.artists))
        self.listen_rows.append((lid, user, at, track_id, artist_id, album_id, secs, seq))
        if len(ev.artists) == 1:
            credit = ev.artists[0]
            aid = _name_id("artist", credit.name)
            self.artist_names.setdefault(aid, credit.name)
            self.credit_rows.append((lid, user, at, aid, credit.role, track_id, album_id, secs, seq))
        else:
            credited: set[int] = set()
            for credit in ev.artists:
                aid = _name_id("artist", credit.name)
                if aid in credited:  # an artist credited twice on one listen counts once (first role)
                    continue
                credited.add(aid)
                self.artist_names.setdefault(aid, credit.name)
                self.credit_rows.append((lid, user, at, aid, credit.role, track_id, album_id, secs, seq))
        if ev.genres:
            tagged: set[int] = set()
            for name in ev.genres:
                gid = _name_id("genre", name)
                if gid in tagged:
                    continue
                tagged.add(gid)
                self.genre_names.setdefault(gid, name)
                self.genre_rows.append((lid, user, at, gid, artist_id, track_id, album_id, secs, seq))

    def add_enrichment(self, ev: ListenEnriched) -> None:
        for name in dict.fromkeys(ev.genres):
            gid = _name_id("genre", name)
            self.genre_names.setdefault(gid, name)
            self.enrichments.append((ev.listen_id, gid))


CubeStep = CubeWrites | Delete


def _apply(w: CubeWrites, seq: int, event: Event) -> None:
    match event:
        case ListenRecorded():
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


def plan(batch: Sequence[tuple[int, Event]]) -> list[CubeStep]:
    """The steps that bring the cube from before the batch to after it, in stream order."""
    return split_steps(batch, CubeWrites, _apply)
