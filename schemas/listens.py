"""Building listen events: the one place a ListenRecorded gets its id."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from schemas.events import ArtistCredit, ListenRecorded
from schemas.identity import listen_id

__all__ = ["MIN_LISTENED_AT", "new_listen", "primary_artist", "to_utc_second"]

MIN_LISTENED_AT = datetime(2002, 10, 1, tzinfo=UTC)
"""No listen predates this (ListenBrainz's floor: Audioscrobbler's launch)."""


def to_utc_second(value: datetime | float) -> datetime:
    """A listen time in UTC truncated to the second (unix seconds or an aware datetime)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("listened_at needs a timezone")
        return value.astimezone(UTC).replace(microsecond=0)
    return datetime.fromtimestamp(int(value), tz=UTC)


def primary_artist(artists: Sequence[ArtistCredit]) -> str:
    """The artist that identifies a listen: the first primary credit, else the first credit."""
    for credit in artists:
        if credit.role == "primary":
            return credit.name
    return artists[0].name if artists else ""


def new_listen(
    *,
    user: str,
    listened_at: datetime,
    title: str,
    artists: Sequence[ArtistCredit],
    received_at: datetime,
    **fields: Any,
) -> ListenRecorded:
    """A ListenRecorded with its content-derived id; ``fields`` are the optional event fields."""
    at = to_utc_second(listened_at)
    return ListenRecorded(
        event_id=listen_id(user, at, primary_artist(artists), title),
        occurred_at=received_at,
        user=user,
        listened_at=at,
        title=title,
        artists=tuple(artists),
        **fields,
    )
