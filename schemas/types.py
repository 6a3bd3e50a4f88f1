"""Named constraint aliases shared by request bodies and events."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta

__all__ = [
    "ArtistName",
    "ArtistRole",
    "Count",
    "GenreName",
    "ListenId",
    "NonNegativeSecs",
    "OptionalText",
    "Seconds",
    "TrackNumber",
    "TrackTitle",
    "UserName",
    "UtcDatetime",
    "Year",
]

UtcDatetime = Annotated[datetime, Meta(tz=True)]
"""A timezone-aware datetime; naive times are refused."""

UserName = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f/]+$")]
TrackTitle = Annotated[str, Meta(min_length=1, max_length=512)]
ArtistName = Annotated[str, Meta(min_length=1, max_length=512)]
GenreName = Annotated[str, Meta(min_length=1, max_length=64)]
OptionalText = Annotated[str, Meta(max_length=512)]
ArtistRole = Literal["primary", "featured", "featuring", "remixer", "producer", "composer"]
Year = Annotated[int, Meta(ge=1000, le=9999)]
TrackNumber = Annotated[int, Meta(ge=0, le=10_000)]
Seconds = Annotated[int, Meta(ge=0, le=24 * 24 * 3600)]
"""A duration in whole seconds, at most 24 days (ListenBrainz's limit)."""
NonNegativeSecs = Annotated[float, Meta(ge=0, le=24 * 24 * 3600)]
Count = Annotated[int, Meta(ge=0)]
ListenId = Annotated[str, Meta(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
