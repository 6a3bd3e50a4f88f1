"""Resolving a Subsonic media id to track metadata through the library index, when there is one.

The library analyzer may put an async callable ``media_index(media_id) -> MediaInfo | None`` on
the app state; without it every id-only scrobble is stored unresolved (title = the media id).
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["MediaInfo", "resolve_media"]


class MediaInfo(msgspec.Struct, frozen=True, kw_only=True):
    title: str
    artist: str
    album: str | None = None
    album_artist: str | None = None
    duration_secs: int | None = None
    track_no: int | None = None
    disc_no: int | None = None
    genres: tuple[str, ...] = ()
    recording_mbid: str | None = None


async def resolve_media(app_state: Any, media_id: str) -> MediaInfo | None:
    index = app_state.get("media_index") if hasattr(app_state, "get") else None
    if index is None:
        return None
    found = await index(media_id)
    return found if isinstance(found, MediaInfo) else None
