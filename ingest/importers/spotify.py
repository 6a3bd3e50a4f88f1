"""Spotify streaming history JSON (the extended history, and the short account-data one). Streaming.

A play counts as a listen when it lasted at least 30 seconds (Last.fm's rule); shorter plays and
podcast episodes are skipped, not errors. ``ts`` is when the play ended, so the listen starts
``ms_played`` earlier.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

from ingest.importers.json_stream import json_items
from ingest.importers.rows import Bad, Parsed, Row, RowError, Skipped, clip, positive_int
from schemas.events import ArtistCredit
from schemas.listens import MIN_LISTENED_AT, new_listen

__all__ = ["MIN_PLAYED_MS", "SOURCE", "parse_spotify"]

SOURCE = "import:spotify"
MIN_PLAYED_MS = 30_000
_FUTURE = timedelta(hours=1)


def _ended(item: dict[str, Any]) -> datetime:
    ts = item.get("ts")
    if isinstance(ts, str):
        try:
            at = datetime.fromisoformat(ts.replace("Z", "+00:00"))
        except ValueError as exc:
            raise RowError(f"ts: {ts!r} is not an ISO 8601 time") from exc
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        return at
    end = item.get("endTime")
    if isinstance(end, str):
        try:
            return datetime.strptime(end, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
        except ValueError as exc:
            raise RowError(f"endTime: {end!r} is not like '2021-01-31 12:34'") from exc
    raise RowError("ts: missing")


def _row(number: int, item: Any, user: str, received_at: datetime) -> Row:
    if not isinstance(item, dict):
        raise RowError("not a JSON object")
    title = clip(item.get("master_metadata_track_name") or item.get("trackName"))
    artist = clip(item.get("master_metadata_album_artist_name") or item.get("artistName"))
    if title is None or artist is None:
        if item.get("episode_name") or item.get("spotify_episode_uri"):
            return Skipped(number, "podcast episode, not music")
        raise RowError("master_metadata_track_name/master_metadata_album_artist_name: missing")
    played_raw = item.get("ms_played", item.get("msPlayed"))
    played = positive_int(played_raw, limit=24 * 24 * 3600 * 1000) or 0
    if played_raw is None:
        raise RowError("ms_played: missing")
    if played < MIN_PLAYED_MS:
        return Skipped(number, f"played {played // 1000} s, under {MIN_PLAYED_MS // 1000} s")
    at = _ended(item) - timedelta(milliseconds=played)
    if at < MIN_LISTENED_AT:
        raise RowError(f"ts: {at.isoformat()} is before 2002-10-01")
    if at > received_at + _FUTURE:
        raise RowError(f"ts: {at.isoformat()} is in the future")
    uri = clip(item.get("spotify_track_uri"), 256)
    return Parsed(
        number,
        new_listen(
            user=user,
            listened_at=at,
            title=title,
            artists=[ArtistCredit(name=artist)],
            received_at=received_at,
            album=clip(item.get("master_metadata_album_album_name")),
            source=SOURCE,
            source_track_id=uri,
            client=clip(item.get("platform"), 128),
            played_secs=played // 1000,
            extra={k: item[k] for k in ("ms_played", "reason_end", "skipped", "shuffle") if k in item}
            or None,
        ),
    )


def parse_spotify(fp: BinaryIO, *, user: str, received_at: datetime) -> Iterator[Row]:
    """Every play of a Spotify streaming history file; bad items reported by number, never fatal."""
    for number, item in json_items(fp, "item"):
        if isinstance(item, Bad):
            yield item
            return
        try:
            yield _row(number, item, user, received_at)
        except RowError as exc:
            yield Bad(number, str(exc))
