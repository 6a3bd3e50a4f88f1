"""OpenSubsonic ``reportPlayback``: the server decides when a play counts.

The clock runs only while the state is ``playing``; a play counts once the played time reaches
half the track or 4 minutes, whichever comes first (ListenBrainz's and Last.fm's rule), and never
for a track under 30 seconds. Without a known length it counts at 4 minutes, or at ``stopped``
after at least 30 seconds. The session lives in the user's now-playing entry, so every replica
sees the same one. Pure functions: no clock reads, no I/O.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

__all__ = ["COUNT_AFTER_S", "MIN_TRACK_S", "Report", "Session", "advance", "counts", "from_dict", "to_dict"]

COUNT_AFTER_S = 240
MIN_TRACK_S = 30


class Report(msgspec.Struct, frozen=True, kw_only=True):
    media_id: str
    position_ms: int
    state: str
    playback_rate: float = 1.0
    ignore_scrobble: bool = False


class Session(msgspec.Struct, frozen=True, kw_only=True):
    media_id: str
    started_at: datetime
    updated_at: datetime
    state: str
    position_ms: int
    played_ms: int = 0
    scrobbled: bool = False
    ignore_scrobble: bool = False


def advance(session: Session | None, report: Report, now: datetime) -> Session:
    """The session after a report: a new one on ``starting`` or another media id, else time added."""
    if session is None or report.state == "starting" or session.media_id != report.media_id:
        return Session(
            media_id=report.media_id,
            started_at=now,
            updated_at=now,
            state="playing" if report.state == "starting" else report.state,
            position_ms=report.position_ms,
            ignore_scrobble=report.ignore_scrobble,
        )
    played = session.played_ms
    if session.state == "playing":
        wall_ms = max(0.0, (now - session.updated_at).total_seconds() * 1000 * max(report.playback_rate, 0.1))
        moved = report.position_ms - session.position_ms
        # Position moved forward no further than the wall clock allows: a seek does not count as play.
        played += int(min(max(moved, 0), wall_ms + 1000)) if moved >= 0 else int(wall_ms)
    return msgspec.structs.replace(
        session,
        updated_at=now,
        state=report.state,
        position_ms=report.position_ms,
        played_ms=played,
        ignore_scrobble=session.ignore_scrobble or report.ignore_scrobble,
    )


def counts(session: Session, duration_secs: int | None) -> bool:
    """Whether the session has become a listen (and was not already scrobbled)."""
    if session.scrobbled or session.ignore_scrobble:
        return False
    played_s = session.played_ms / 1000
    if duration_secs:
        if duration_secs < MIN_TRACK_S:
            return False
        return played_s >= min(duration_secs / 2, COUNT_AFTER_S)
    if played_s >= COUNT_AFTER_S:
        return True
    return session.state == "stopped" and played_s >= MIN_TRACK_S


def to_dict(session: Session) -> dict[str, Any]:
    return msgspec.to_builtins(session)  # type: ignore[no-any-return]


def from_dict(data: dict[str, Any] | None) -> Session | None:
    return msgspec.convert(data, Session, strict=False) if data else None
