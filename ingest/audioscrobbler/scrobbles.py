"""``track.scrobble`` batches and ``track.updateNowPlaying`` turned into listens and now playing (pure)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from ingest.audioscrobbler.answers import LastfmError
from ingest.convert import FUTURE_TOLERANCE
from ingest.now_playing import NowPlayingEntry, entry_ttl
from schemas.events import ArtistCredit, ListenRecorded
from schemas.listens import MIN_LISTENED_AT, new_listen

__all__ = ["MAX_BATCH", "Item", "now_playing_entry", "scrobble_items"]

MAX_BATCH = 50
_INDEXED = re.compile(r"^([A-Za-z]+)\[(\d+)\]$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class Item(msgspec.Struct, frozen=True, kw_only=True):
    """One scrobble of a batch: its echo for the answer, its event when accepted, else the ignore code."""

    artist: str
    track: str
    album: str
    album_artist: str
    timestamp: str
    ignored_code: int = 0
    ignored_message: str = ""
    event: ListenRecorded | None = None


def _groups(params: dict[str, str]) -> dict[int, dict[str, str]]:
    groups: dict[int, dict[str, str]] = {}
    for key, value in params.items():
        m = _INDEXED.match(key)
        if m:
            groups.setdefault(int(m.group(2)), {})[m.group(1)] = value
    if not groups and ("artist" in params or "track" in params):
        groups[0] = {
            k: params[k]
            for k in (
                "artist",
                "track",
                "timestamp",
                "album",
                "albumArtist",
                "trackNumber",
                "duration",
                "mbid",
            )
            if k in params
        }
    return groups


def _int(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None


def _item(user: str, fields: dict[str, str], now: datetime, client: str | None) -> Item:
    artist = fields.get("artist", "").strip()
    track = fields.get("track", "").strip()
    album = fields.get("album", "").strip()
    album_artist = fields.get("albumArtist", "").strip()
    stamp = fields.get("timestamp", "").strip()
    echo: dict[str, Any] = {
        "artist": artist,
        "track": track,
        "album": album,
        "album_artist": album_artist,
        "timestamp": stamp,
    }
    if not artist:
        return Item(**echo, ignored_code=1, ignored_message="Artist was ignored")
    if not track:
        return Item(**echo, ignored_code=2, ignored_message="Track was ignored")
    seconds = _int(stamp)
    if seconds is None:
        raise LastfmError(6, "Invalid parameters - timestamp is required for every scrobble")
    at = datetime.fromtimestamp(min(seconds, 1 << 40), tz=UTC)
    if at < MIN_LISTENED_AT:
        return Item(**echo, ignored_code=3, ignored_message="Timestamp was too old")
    if at > now + FUTURE_TOLERANCE:
        return Item(**echo, ignored_code=4, ignored_message="Timestamp was too new")
    mbid = fields.get("mbid", "").strip()
    duration = _int(fields.get("duration"))
    number = _int(fields.get("trackNumber"))
    event = new_listen(
        user=user,
        listened_at=at,
        title=track[:512],
        artists=[ArtistCredit(name=artist[:512])],
        received_at=now,
        album=album[:512] or None,
        album_artist=album_artist[:512] or None,
        duration_secs=duration if duration and duration <= 24 * 24 * 3600 else None,
        track_no=number if number is not None and number <= 10_000 else None,
        recording_mbid=mbid if _UUID.match(mbid) else None,
        source="lastfm",
        client=client,
    )
    return Item(**echo, event=event)


def scrobble_items(user: str, params: dict[str, str], now: datetime) -> list[Item]:
    """Every scrobble of a ``track.scrobble`` call in index order; error 6 beyond 50 or when none."""
    groups = _groups(params)
    if not groups:
        raise LastfmError(6, "Invalid parameters - artist[i], track[i] and timestamp[i] are required")
    if len(groups) > MAX_BATCH:
        raise LastfmError(6, f"Invalid parameters - at most {MAX_BATCH} scrobbles per request")
    client = params.get("api_key") or None
    return [_item(user, groups[i], now, client) for i in sorted(groups)]


def now_playing_entry(user: str, params: dict[str, str], now: datetime) -> NowPlayingEntry:
    artist = params.get("artist", "").strip()
    track = params.get("track", "").strip()
    if not artist or not track:
        raise LastfmError(6, "Invalid parameters - artist and track are required")
    duration = _int(params.get("duration"))
    return NowPlayingEntry(
        user=user,
        title=track,
        artist=artist,
        album=params.get("album", "").strip() or None,
        started_at=now,
        expires_at=now + timedelta(seconds=entry_ttl(duration)),
        duration_secs=duration,
        source="lastfm",
        client=params.get("api_key") or None,
    )
