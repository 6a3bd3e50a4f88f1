"""Pure conversions from validated requests to events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import msgspec

from schemas.events import ArtistCredit, ListenRecorded
from schemas.listens import MIN_LISTENED_AT, new_listen, to_utc_second
from schemas.scrobble import MAX_BATCH, ScrobbleIn
from scrobbler.errors import BadRequest

__all__ = [
    "FUTURE_TOLERANCE",
    "check_listened_at",
    "decode_scrobbles",
    "scrobble_to_event",
    "scrobbles_to_events",
]

FUTURE_TOLERANCE = timedelta(hours=1)
"""Clocks drift: a listen up to an hour ahead of ours is accepted (as ListenBrainz does)."""

_DECODER = msgspec.json.Decoder(ScrobbleIn | list[ScrobbleIn])


def decode_scrobbles(body: bytes) -> list[ScrobbleIn]:
    """One scrobble or an array of up to ``MAX_BATCH``; errors carry msgspec's JSON path."""
    if not body.strip():
        raise BadRequest("request body is empty; expected a JSON scrobble or an array of them")
    try:
        decoded = _DECODER.decode(body)
    except msgspec.ValidationError as exc:
        raise BadRequest(str(exc)) from exc
    except msgspec.DecodeError as exc:
        raise BadRequest(f"malformed JSON: {exc}") from exc
    items = decoded if isinstance(decoded, list) else [decoded]
    if not items:
        raise BadRequest("empty array: send at least one scrobble")
    if len(items) > MAX_BATCH:
        raise BadRequest(f"{len(items)} scrobbles in one request; at most {MAX_BATCH}")
    return items


def check_listened_at(value: datetime, now: datetime, where: str) -> None:
    """Refuse times before 2002-10-01 or more than an hour ahead of ours."""
    if value < MIN_LISTENED_AT:
        raise BadRequest(f"{where}: {value.isoformat()} is before 2002-10-01")
    if value > now + FUTURE_TOLERANCE:
        raise BadRequest(f"{where}: {value.isoformat()} is in the future")


def scrobble_to_event(
    item: ScrobbleIn, *, default_user: str, received_at: datetime, where: str
) -> ListenRecorded:
    """The listen event of one seed JSON scrobble (``where`` is its JSON path for error messages)."""
    listened_at = item.listened_at
    if isinstance(listened_at, datetime):
        if listened_at.tzinfo is None:
            raise BadRequest(f"{where}.listened_at: a timezone is required (e.g. 2024-01-01T12:00:00Z)")
        at = to_utc_second(listened_at)
    else:
        if listened_at < 0 or listened_at > 1 << 40:
            raise BadRequest(f"{where}.listened_at: {listened_at} is not a Unix time in seconds")
        at = datetime.fromtimestamp(int(listened_at), tz=UTC)
    check_listened_at(at, received_at, f"{where}.listened_at")
    track = item.track
    if not track.title.strip():
        raise BadRequest(f"{where}.track.title: must not be blank")
    for i, artist in enumerate(item.artists):
        if not artist.name.strip():
            raise BadRequest(f"{where}.artists[{i}].name: must not be blank")
    return new_listen(
        user=item.user or default_user,
        listened_at=at,
        title=track.title.strip(),
        artists=[ArtistCredit(name=a.name.strip(), role=a.role, mbid=a.mbid) for a in item.artists],
        received_at=received_at,
        album=track.album or None,
        album_artist=track.album_artist or None,
        album_year=track.album_year,
        track_no=track.track_no,
        disc_no=track.disc_no,
        duration_secs=track.duration_secs or item.duration_secs,
        position_secs=item.position_secs,
        genres=tuple(dict.fromkeys(g.strip() for g in item.genres if g.strip())),
        source=item.source,
        source_track_id=item.source_track_id,
        recording_mbid=track.mbid,
        isrc=track.isrc,
    )


def scrobbles_to_events(
    items: Sequence[ScrobbleIn], *, default_user: str, received_at: datetime
) -> list[ListenRecorded]:
    """Every scrobble's event, or a BadRequest naming the first bad one (nothing is written then)."""
    single = len(items) == 1
    return [
        scrobble_to_event(
            item, default_user=default_user, received_at=received_at, where="$" if single else f"$[{i}]"
        )
        for i, item in enumerate(items)
    ]
