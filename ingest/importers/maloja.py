"""Maloja exports (``maloja export``): ``{"maloja": {...}, "scrobbles": [...]}``. Streaming.

Maloja credits every artist of a track equally, so each becomes a primary credit; the first one
identifies the listen.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

from ingest.importers.json_stream import json_items
from ingest.importers.rows import Bad, Parsed, Row, RowError, clip, positive_int
from schemas.events import ArtistCredit, ListenRecorded
from schemas.listens import MIN_LISTENED_AT, new_listen

__all__ = ["SOURCE", "parse_maloja"]

SOURCE = "import:maloja"
_FUTURE = timedelta(hours=1)


def _event(item: Any, user: str, received_at: datetime) -> ListenRecorded:
    if not isinstance(item, dict):
        raise RowError("not a JSON object")
    when = item.get("time")
    if not isinstance(when, int | float) or isinstance(when, bool):
        raise RowError("time: missing or not a Unix time")
    if when < MIN_LISTENED_AT.timestamp():
        raise RowError(f"time: {when} is before 2002-10-01")
    if when > (received_at + _FUTURE).timestamp():
        raise RowError(f"time: {when} is in the future")
    track = item.get("track")
    if not isinstance(track, dict):
        raise RowError("track: missing")
    title = clip(track.get("title"))
    if title is None:
        raise RowError("track.title: empty")
    names = [n for n in (clip(a) for a in track.get("artists") or []) if n]
    if not names:
        raise RowError("track.artists: empty")
    raw_album = track.get("album")
    album: dict[str, Any] = raw_album if isinstance(raw_album, dict) else {}
    album_artists = [n for n in (clip(a) for a in album.get("artists") or []) if n]
    origin = clip(item.get("origin"), 128)
    return new_listen(
        user=user,
        listened_at=datetime.fromtimestamp(int(when), tz=UTC),
        title=title,
        artists=[ArtistCredit(name=n) for n in dict.fromkeys(names)],
        received_at=received_at,
        album=clip(album.get("albumtitle")),
        album_artist=", ".join(album_artists)[:512] if album_artists and album_artists != names else None,
        duration_secs=positive_int(track.get("length")),
        played_secs=positive_int(item.get("duration")),
        source=SOURCE,
        client=origin.split(":")[-1] if origin else None,
    )


def parse_maloja(fp: BinaryIO, *, user: str, received_at: datetime) -> Iterator[Row]:
    """Every scrobble of a Maloja export; bad items reported by number, never fatal."""
    for number, item in json_items(fp, "scrobbles.item"):
        if isinstance(item, Bad):
            yield item
            return
        try:
            yield Parsed(number, _event(item, user, received_at))
        except RowError as exc:
            yield Bad(number, str(exc))
