"""Subsonic ``scrobble`` and ``reportPlayback`` turned into listens and now-playing entries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec

from ingest.convert import check_listened_at
from ingest.now_playing import NowPlayingEntry, entry_ttl
from ingest.subsonic.envelope import SubsonicError
from ingest.subsonic.media import MediaInfo
from ingest.subsonic.playback import Report, Session, advance, counts, from_dict, to_dict
from schemas.events import ArtistCredit, ListenRecorded
from schemas.listens import new_listen
from scrobbler.errors import BadRequest

if TYPE_CHECKING:
    from ingest.subsonic.routes import Call

__all__ = ["UNKNOWN_ARTIST", "now_playing_from", "playback_report", "scrobble_events"]

UNKNOWN_ARTIST = "[unknown]"
"""MusicBrainz's name for an unknown artist, used when a scrobble carries only a media id."""
UNRESOLVED_NOTE = "only a Subsonic media id was sent and no library index knew it"


def _seed_track(single: dict[str, str], multi: dict[str, list[str]]) -> MediaInfo | None:
    """The seed's ``t``/``a``/``al``/``g`` (``t`` is the auth token, not a title, when ``s`` is present)."""
    title = None if "s" in single else single.get("t")
    artist = single.get("a")
    if not (title and title.strip() and artist and artist.strip()):
        return None
    return MediaInfo(
        title=title.strip(),
        artist=artist.strip(),
        album=(single.get("al") or "").strip() or None,
        genres=tuple(g.strip() for g in multi.get("g", []) if g.strip()),
    )


def _listen(call: Call, media_id: str, at: datetime, info: MediaInfo | None) -> ListenRecorded:
    return new_listen(
        user=call.user,
        listened_at=at,
        title=info.title if info else media_id,
        artists=[ArtistCredit(name=info.artist if info else UNKNOWN_ARTIST)],
        received_at=call.now,
        album=info.album if info else None,
        album_artist=info.album_artist if info else None,
        duration_secs=info.duration_secs if info else None,
        track_no=info.track_no if info else None,
        disc_no=info.disc_no if info else None,
        genres=info.genres if info else (),
        recording_mbid=info.recording_mbid if info else None,
        source="subsonic",
        source_track_id=media_id,
        client=(call.single.get("c") or None),
        unresolved=info is None,
        extra={"unresolved": UNRESOLVED_NOTE} if info is None else None,
    )


async def scrobble_events(call: Call) -> list[ListenRecorded]:
    """One listen per ``id`` (with its ``time`` in ms, or now); several ids in one call are fine."""
    ids = call.multi.get("id", [])
    if not ids:
        raise SubsonicError(10, "Required parameter is missing: id")
    times = call.multi.get("time", [])
    if times and len(times) != len(ids):
        raise SubsonicError(0, f"{len(ids)} id values but {len(times)} time values: give one time per id")
    seed = _seed_track(call.single, call.multi)
    events = []
    for i, media_id in enumerate(ids):
        try:
            at = datetime.fromtimestamp(int(times[i]) / 1000, tz=UTC) if times else call.now
        except (ValueError, OverflowError) as exc:
            raise SubsonicError(0, f"time={times[i]!r} is not milliseconds since the epoch") from exc
        try:
            check_listened_at(at, call.now, "time")
        except BadRequest as exc:
            raise SubsonicError(0, exc.detail) from exc
        # The seed's title/artist describe the (first) track of the call; other ids go through the index.
        info = seed if seed is not None and i == 0 else await call.media(media_id)
        events.append(_listen(call, media_id, at, info))
    return events


async def now_playing_from(call: Call, media_id: str | None = None, position_ms: int = 0) -> NowPlayingEntry:
    """The now-playing entry of ``scrobble?submission=false`` (or of a playback report)."""
    media_id = media_id or (call.multi.get("id") or [""])[0] or call.single.get("mediaId", "")
    if not media_id:
        raise SubsonicError(10, "Required parameter is missing: id")
    info = _seed_track(call.single, call.multi) or await call.media(media_id)
    duration = info.duration_secs if info else None
    return NowPlayingEntry(
        user=call.user,
        title=info.title if info else media_id,
        artist=info.artist if info else UNKNOWN_ARTIST,
        album=info.album if info else None,
        started_at=call.now,
        expires_at=call.now + timedelta(seconds=entry_ttl(duration, position_ms / 1000)),
        duration_secs=duration,
        source="subsonic",
        client=call.single.get("c") or None,
        media_id=media_id,
    )


def _report(single: dict[str, str]) -> Report:
    media_id = single.get("mediaId") or single.get("id")
    if not media_id:
        raise SubsonicError(10, "Required parameter is missing: mediaId")
    state = single.get("state")
    if state not in ("starting", "playing", "paused", "stopped"):
        raise SubsonicError(
            10, "Required parameter is missing or invalid: state (starting|playing|paused|stopped)"
        )
    try:
        position = int(float(single.get("positionMs", "0")))
        rate = float(single.get("playbackRate", "1"))
    except ValueError as exc:
        raise SubsonicError(0, "positionMs and playbackRate must be numbers") from exc
    return Report(
        media_id=media_id,
        position_ms=max(0, position),
        state=state,
        playback_rate=rate,
        ignore_scrobble=single.get("ignoreScrobble", "false").lower() in ("true", "1"),
    )


async def playback_report(call: Call) -> None:
    """Advance the user's playback session; publish the listen once it counts."""
    report = _report(call.single)
    store = call.protocols.now_playing
    current = await store.get(call.user, call.now)
    previous = from_dict(current.playback) if current is not None else None
    session = advance(previous, report, call.now)
    entry = (
        current
        if current is not None and previous is not None and previous.media_id == session.media_id
        else await now_playing_from(call, session.media_id, report.position_ms)
    )
    if counts(session, entry.duration_secs):
        info = (
            None
            if entry.title == session.media_id
            else MediaInfo(
                title=entry.title, artist=entry.artist, album=entry.album, duration_secs=entry.duration_secs
            )
        )
        await call.ingest.publisher.publish_all([_listen(call, session.media_id, session.started_at, info)])
        session = _scrobbled(session)
    if session.state == "stopped":
        await store.clear(call.user)
        return
    remaining = entry_ttl(entry.duration_secs, report.position_ms / 1000)
    await store.set(_with_session(entry, to_dict(session), call.now + timedelta(seconds=remaining)))


def _scrobbled(session: Session) -> Session:
    return msgspec.structs.replace(session, scrobbled=True)


def _with_session(entry: NowPlayingEntry, playback: dict[str, Any], expires_at: datetime) -> NowPlayingEntry:
    return msgspec.structs.replace(entry, playback=playback, expires_at=expires_at)
