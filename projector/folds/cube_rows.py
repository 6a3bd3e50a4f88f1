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

from projector.folds.sql_rows import Delete, catalogue_ids, naive_utc
from schemas.events import (
    ConfigChanged,
    Event,
    ListenEnriched,
    ListenRecorded,
    ListensDeleted,
    PasswordSet,
    TokenIssued,
    UserCreated,
)
from schemas.identity import stable_id
from schemas.listens import primary_artist

__all__ = ["CubeStep", "CubeWrites", "Delete", "plan"]


def _epoch(ev: ListenRecorded) -> int:
    return int(ev.listened_at.timestamp())


@dataclass
class CubeWrites:
    """Columns of new facts and dimension rows; each table's lists have equal lengths."""

    listens: dict[str, list[object]] = field(
        default_factory=lambda: {
            k: []
            for k in (
                "listen_id",
                "user_name",
                "listened_at",
                "track_id",
                "artist_id",
                "album_id",
                "duration_secs",
                "stream_seq",
            )
        }
    )
    credits: dict[str, list[object]] = field(
        default_factory=lambda: {
            k: []
            for k in (
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
        }
    )
    genres: dict[str, list[object]] = field(
        default_factory=lambda: {
            k: []
            for k in (
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
        }
    )
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
        return not (
            self.listens["listen_id"] or self.enrichments or self.users or self.config or self.genre_names
        )

    @property
    def listen_count(self) -> int:
        return len(self.listens["listen_id"])

    def add_listen(self, seq: int, ev: ListenRecorded) -> None:
        if ev.event_id in self._seen:
            return
        self._seen.add(ev.event_id)
        track_id, artist_id, album_id = catalogue_ids(ev)
        at = _epoch(ev)
        secs = ev.duration_secs or 0
        self.users.add(ev.user)
        artist = primary_artist(ev.artists)
        self.tracks.setdefault(track_id, (ev.title, artist))
        if album_id is not None and ev.album is not None:
            self.albums.setdefault(album_id, (ev.album, ev.album_artist or artist))
        for column, value in zip(
            self.listens,
            (ev.event_id, ev.user, at, track_id, artist_id, album_id, secs, seq),
            strict=True,
        ):
            self.listens[column].append(value)
        credited: set[int] = set()
        for credit in ev.artists:
            aid = stable_id("artist", credit.name)
            if aid in credited:  # one artist credited twice on a listen counts once (its first role)
                continue
            credited.add(aid)
            self.artist_names.setdefault(aid, credit.name)
            for column, value in zip(
                self.credits,
                (ev.event_id, ev.user, at, aid, credit.role, track_id, album_id, secs, seq),
                strict=True,
            ):
                self.credits[column].append(value)
        tagged: set[int] = set()
        for name in ev.genres:
            gid = stable_id("genre", name)
            if gid in tagged:
                continue
            tagged.add(gid)
            self.genre_names.setdefault(gid, name)
            for column, value in zip(
                self.genres,
                (ev.event_id, ev.user, at, gid, artist_id, track_id, album_id, secs, seq),
                strict=True,
            ):
                self.genres[column].append(value)

    def add_enrichment(self, ev: ListenEnriched) -> None:
        for name in dict.fromkeys(ev.genres):
            gid = stable_id("genre", name)
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
    steps: list[CubeStep] = []
    current = CubeWrites()
    for seq, event in batch:
        if isinstance(event, ListensDeleted):
            if not current.empty():
                steps.append(current)
                current = CubeWrites()
            steps.append(
                Delete(
                    before_seq=seq,
                    user=event.user,
                    since=naive_utc(event.since) if event.since else None,
                    until=naive_utc(event.until) if event.until else None,
                    listen_ids=event.listen_ids,
                )
            )
        else:
            _apply(current, seq, event)
    if not current.empty():
        steps.append(current)
    return steps
