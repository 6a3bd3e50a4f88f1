"""The events of the stream: the source of truth.

Every event is a frozen, keyword-only msgspec Struct with a versioned tag (``type`` on the
wire). Evolution rules: add fields only with defaults; never rename, retype or reuse a tag;
a breaking change is a new tag plus an upcast in :func:`upcast`. Events do not forbid unknown
fields, so an older projector can read an event written by a newer ingest.

Events are declared ``gc=False``: they are decoded JSON (trees, never cycles), and a replay
creates millions of them, so keeping them out of the cyclic collector's generations saves
the collector walking each one (measured: cube projection +14 %).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from msgspec import Struct

from schemas.types import UtcDatetime

__all__ = [
    "EVENT_DECODER",
    "EVENT_ENCODER",
    "ArtistCredit",
    "ConfigChanged",
    "Event",
    "JobUpdated",
    "LibraryFileIndexed",
    "ListenEnriched",
    "ListenRecorded",
    "ListenRecordedV1",
    "ListensDeleted",
    "PasswordSet",
    "StoredEvent",
    "TokenIssued",
    "TokenRevoked",
    "UserCreated",
    "decode_event",
    "encode_event",
    "event_user",
    "upcast",
]


class ArtistCredit(Struct, frozen=True, kw_only=True, gc=False):
    """One artist credited on a listen, with its role."""

    name: str
    role: str = "primary"
    mbid: str | None = None


class ListenRecordedV1(Struct, frozen=True, kw_only=True, gc=False, tag="listen_recorded.v1"):
    """Version 1 of :class:`ListenRecorded` (no ``played_secs``); still in old streams, upcast on read."""

    event_id: str
    """The listen id (content-derived, see :mod:`schemas.identity`)."""
    occurred_at: UtcDatetime
    """When the server accepted the listen."""
    user: str
    listened_at: UtcDatetime
    title: str
    artists: tuple[ArtistCredit, ...]
    album: str | None = None
    album_artist: str | None = None
    album_year: int | None = None
    track_no: int | None = None
    disc_no: int | None = None
    duration_secs: int | None = None
    """Length of the track."""
    position_secs: int | None = None
    """How far into the track the player was when it scrobbled (the seed's field)."""
    genres: tuple[str, ...] = ()
    source: str = "lms"
    """Origin of the listen: ``lms``, ``subsonic``, ``listenbrainz``, ``lastfm``, ``import:<format>``..."""
    source_track_id: str | None = None
    client: str | None = None
    """Submitting client (e.g. ``Feishin 0.12``) when it said so."""
    recording_mbid: str | None = None
    release_mbid: str | None = None
    isrc: str | None = None
    unresolved: bool = False
    """True when only a media id came (Subsonic ``scrobble`` with ``id`` alone) and the library knew none."""
    extra: dict[str, Any] | None = None
    """Client metadata we keep but do not model (ListenBrainz ``additional_info`` keys)."""


class ListenRecorded(Struct, frozen=True, kw_only=True, gc=False, tag="listen_recorded.v2"):
    """A play happened: the user listened to a track at ``listened_at``.

    Version 2 adds ``played_secs``; version 1 events are upcast to this class on read
    (:func:`upcast`), so code only ever sees this class.
    """

    event_id: str
    """The listen id (content-derived, see :mod:`schemas.identity`)."""
    occurred_at: UtcDatetime
    """When the server accepted the listen."""
    user: str
    listened_at: UtcDatetime
    title: str
    artists: tuple[ArtistCredit, ...]
    album: str | None = None
    album_artist: str | None = None
    album_year: int | None = None
    track_no: int | None = None
    disc_no: int | None = None
    duration_secs: int | None = None
    """Length of the track."""
    position_secs: int | None = None
    """How far into the track the player was when it scrobbled (the seed's field)."""
    genres: tuple[str, ...] = ()
    source: str = "lms"
    """Origin of the listen: ``lms``, ``subsonic``, ``listenbrainz``, ``lastfm``, ``import:<format>``..."""
    source_track_id: str | None = None
    client: str | None = None
    """Submitting client (e.g. ``Feishin 0.12``) when it said so."""
    recording_mbid: str | None = None
    release_mbid: str | None = None
    isrc: str | None = None
    unresolved: bool = False
    """True when only a media id came (Subsonic ``scrobble`` with ``id`` alone) and the library knew none."""
    extra: dict[str, Any] | None = None
    """Client metadata we keep but do not model (ListenBrainz ``additional_info`` keys)."""
    played_secs: int | None = None
    """How long the track actually played, when the client said so (v2; ``None`` for v1 events)."""


class ListensDeleted(Struct, frozen=True, kw_only=True, gc=False, tag="listens_deleted.v1"):
    """A tombstone: listens matching every given criterion that precede this event are gone.

    ``user=None`` means every user; ``since``/``until`` bound ``listened_at`` (inclusive,
    exclusive); ``listen_ids`` restricts to those listens. A projector deletes only rows whose
    stream sequence is lower than the tombstone's, so a listen submitted again later comes back.
    """

    event_id: str
    occurred_at: UtcDatetime
    user: str | None = None
    since: UtcDatetime | None = None
    until: UtcDatetime | None = None
    listen_ids: tuple[str, ...] = ()


class ConfigChanged(Struct, frozen=True, kw_only=True, gc=False, tag="config_changed.v1"):
    """A runtime configuration key was set. Secret values are encrypted with the server secret."""

    event_id: str
    occurred_at: UtcDatetime
    key: str
    value: str
    secret: bool = False


class UserCreated(Struct, frozen=True, kw_only=True, gc=False, tag="user_created.v1"):
    """A user account exists (created explicitly, or implicitly by its first listen)."""

    event_id: str
    occurred_at: UtcDatetime
    user: str


class TokenIssued(Struct, frozen=True, kw_only=True, gc=False, tag="token_issued.v1"):
    """An API token for a user; only its SHA-256 is in the stream, plus a short prefix to show."""

    event_id: str
    occurred_at: UtcDatetime
    user: str
    token_sha256: str
    prefix: str
    label: str = ""


class TokenRevoked(Struct, frozen=True, kw_only=True, gc=False, tag="token_revoked.v1"):
    event_id: str
    occurred_at: UtcDatetime
    user: str
    token_sha256: str


class PasswordSet(Struct, frozen=True, kw_only=True, gc=False, tag="password_set.v1"):
    """A user's protocol password (Subsonic, Audioscrobbler), encrypted with the server secret."""

    event_id: str
    occurred_at: UtcDatetime
    user: str
    password_enc: str


class JobUpdated(Struct, frozen=True, kw_only=True, gc=False, tag="job_updated.v1"):
    """Progress of an import, export or scan job (the latest event of a job is its state)."""

    event_id: str
    occurred_at: UtcDatetime
    job_id: str
    kind: str
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    progress: dict[str, Any] = {}
    user: str | None = None
    error: str | None = None


class ListenEnriched(Struct, frozen=True, kw_only=True, gc=False, tag="listen_enriched.v1"):
    """Genres or MusicBrainz ids learned about a listen after it was recorded."""

    event_id: str
    occurred_at: UtcDatetime
    user: str
    listen_id: str
    genres: tuple[str, ...] = ()
    recording_mbid: str | None = None
    artist_mbids: tuple[str, ...] = ()
    source: str = "musicbrainz"


class LibraryFileIndexed(Struct, frozen=True, kw_only=True, gc=False, tag="library_file_indexed.v1"):
    """The library analyzer read a file's tags."""

    event_id: str
    occurred_at: UtcDatetime
    path: str
    title: str
    artists: tuple[ArtistCredit, ...]
    album: str | None = None
    album_artist: str | None = None
    album_year: int | None = None
    track_no: int | None = None
    disc_no: int | None = None
    duration_secs: int | None = None
    genres: tuple[str, ...] = ()
    media_id: str | None = None
    recording_mbid: str | None = None


Event = (
    ListenRecorded
    | ListensDeleted
    | ConfigChanged
    | UserCreated
    | TokenIssued
    | TokenRevoked
    | PasswordSet
    | JobUpdated
    | ListenEnriched
    | LibraryFileIndexed
)
"""Every event in its current version: what folds and handlers see."""

StoredEvent = Event | ListenRecordedV1
"""Every version that may be in the stream: what the decoder accepts before :func:`upcast`."""

EVENT_ENCODER = msgspec.json.Encoder()
EVENT_DECODER = msgspec.json.Decoder(StoredEvent)
"""Decodes any version; use :func:`decode_event`, which also upcasts."""


def encode_event(event: Event) -> bytes:
    """The wire form of an event."""
    return EVENT_ENCODER.encode(event)


def decode_event(data: bytes) -> Event:
    """Decode an event of any version, upcast to its current version."""
    return upcast(EVENT_DECODER.decode(data))


def upcast(event: StoredEvent) -> Event:
    """Turn an event of an older version into the current one."""
    if isinstance(event, ListenRecordedV1):
        return ListenRecorded(**msgspec.structs.asdict(event))
    return event


def event_user(event: Event) -> str | None:
    """The user an event belongs to, or None for an event about every user."""
    user = getattr(event, "user", None)
    return user if isinstance(user, str) else None
