"""A ListenBrainz listen (API page or export file) as a listen event. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from ingest.importers.rows import RowError, clip, mbid_or_none, positive_int
from schemas.events import ArtistCredit, ListenRecorded
from schemas.listens import MIN_LISTENED_AT, new_listen

__all__ = ["LB_LISTEN_DECODER", "LbListen", "LbTrackMetadata", "lb_listen_event", "tags_of"]

MAX_TAGS = 50
MAX_TAG_LENGTH = 64
_FUTURE = timedelta(hours=1)


class LbTrackMetadata(msgspec.Struct, kw_only=True):
    artist_name: str
    track_name: str
    release_name: str | None = None
    additional_info: dict[str, Any] | None = None
    mbid_mapping: dict[str, Any] | None = None


class LbListen(msgspec.Struct, kw_only=True):
    """One listen as ListenBrainz serves it (``/1/user/{user}/listens`` and its exports)."""

    listened_at: int
    track_metadata: LbTrackMetadata
    recording_msid: str | None = None
    inserted_at: float | None = None
    user_name: str | None = None


LB_LISTEN_DECODER = msgspec.json.Decoder(LbListen)


def tags_of(info: dict[str, Any]) -> tuple[str, ...]:
    """Genres from ``additional_info.tags``: trimmed, at most 50 of at most 64 characters, deduplicated."""
    raw = info.get("tags")
    if not isinstance(raw, list):
        return ()
    out: dict[str, None] = {}
    for tag in raw:
        name = clip(tag, MAX_TAG_LENGTH)
        if name:
            out.setdefault(name, None)
        if len(out) >= MAX_TAGS:
            break
    return tuple(out)


def _client(info: dict[str, Any]) -> str | None:
    name = clip(info.get("submission_client") or info.get("media_player"), 100)
    if name is None:
        return None
    version = clip(info.get("submission_client_version") or info.get("media_player_version"), 27)
    return f"{name} {version}" if version else name


def lb_listen_event(
    listen: LbListen, *, user: str, received_at: datetime, source: str = "listenbrainz"
) -> ListenRecorded:
    """The event of one ListenBrainz listen; :class:`RowError` says why a listen cannot be one."""
    meta = listen.track_metadata
    artist = clip(meta.artist_name)
    title = clip(meta.track_name)
    if artist is None:
        raise RowError("track_metadata.artist_name: empty")
    if title is None:
        raise RowError("track_metadata.track_name: empty")
    if listen.listened_at < MIN_LISTENED_AT.timestamp():
        raise RowError(f"listened_at: {listen.listened_at} is before 2002-10-01")
    if listen.listened_at > (received_at + _FUTURE).timestamp():
        raise RowError(f"listened_at: {listen.listened_at} is in the future")
    at = datetime.fromtimestamp(listen.listened_at, tz=UTC)
    info = dict(meta.additional_info or {})
    mapping = meta.mbid_mapping or {}
    artist_mbids = [m for m in (mbid_or_none(x) for x in info.get("artist_mbids") or []) if m]
    duration_ms = positive_int(info.get("duration_ms"), limit=24 * 24 * 3600 * 1000)
    duration = positive_int(info.get("duration")) or (duration_ms // 1000 if duration_ms else None)
    if listen.recording_msid:
        info.setdefault("recording_msid", listen.recording_msid)
    return new_listen(
        user=user,
        listened_at=at,
        title=title,
        artists=[ArtistCredit(name=artist, mbid=artist_mbids[0] if len(artist_mbids) == 1 else None)],
        received_at=received_at,
        album=clip(meta.release_name),
        album_artist=clip(info.get("release_artist_name")),
        track_no=positive_int(info.get("tracknumber"), limit=10_000),
        disc_no=positive_int(info.get("discnumber"), limit=10_000),
        duration_secs=duration or None,
        genres=tags_of(info),
        source=source,
        source_track_id=clip(info.get("spotify_id") or info.get("origin_url"), 256),
        client=_client(info),
        recording_mbid=mbid_or_none(info.get("recording_mbid"))
        or mbid_or_none(mapping.get("recording_mbid")),
        release_mbid=mbid_or_none(info.get("release_mbid")) or mbid_or_none(mapping.get("release_mbid")),
        isrc=clip(info.get("isrc"), 16),
        extra=info or None,
    )
