"""The seed's JSON scrobble (``POST /api/v1/scrobble``) as a validated request type."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from msgspec import Meta, Struct

from schemas.types import (
    ArtistName,
    ArtistRole,
    GenreName,
    OptionalText,
    Seconds,
    TrackNumber,
    TrackTitle,
    UserName,
    Year,
)

__all__ = ["MAX_BATCH", "ArtistIn", "ScrobbleIn", "TrackIn"]

MAX_BATCH = 1000
"""Most listens in one ``POST /api/v1/scrobble`` array."""


class ArtistIn(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: ArtistName
    role: ArtistRole = "primary"
    mbid: Annotated[str, Meta(max_length=36)] | None = None


class TrackIn(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    title: TrackTitle
    album: OptionalText | None = None
    album_artist: OptionalText | None = None
    album_year: Year | None = None
    track_no: TrackNumber | None = None
    disc_no: TrackNumber | None = None
    duration_secs: Seconds | None = None
    mbid: Annotated[str, Meta(max_length=36)] | None = None
    isrc: Annotated[str, Meta(max_length=16)] | None = None


class ScrobbleIn(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One listen as the original product accepted it."""

    track: TrackIn
    artists: Annotated[list[ArtistIn], Meta(min_length=1, max_length=50)]
    listened_at: datetime | int | float
    """ISO 8601 with a timezone, or Unix seconds."""
    user: UserName | None = None
    """Defaults to the ``default_user`` config key."""
    source: Annotated[str, Meta(min_length=1, max_length=64)] = "lms"
    source_track_id: Annotated[str, Meta(max_length=256)] | None = None
    position_secs: Seconds | None = None
    duration_secs: Seconds | None = None
    genres: Annotated[list[GenreName], Meta(max_length=50)] = []
