"""Listens as ListenBrainz submit payloads, and why a listen is not sent. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ingest.importers.rows import mbid_or_none
from schemas.events import ListenRecorded
from schemas.identity import normalize_name, normalize_title

__all__ = [
    "ALREADY_EXPORTED",
    "ALREADY_ON_LB",
    "FROM_LISTENBRAINZ",
    "LB_MARK",
    "LB_SOURCES",
    "NOT_EXPORTABLE",
    "ExportListen",
    "from_event",
    "lb_payload",
    "local_key",
    "remote_key",
    "skip_reason",
]

LB_SOURCES = frozenset({"import:listenbrainz"})
"""Sources of listens that came from ListenBrainz export files: never sent back."""
LB_MARK = "recording_msid"
"""Key ListenBrainz puts on every listen it serves (kept in ``extra``). Listens imported from its API
carry it; listens that clients submitted to our ListenBrainz-compatible endpoint (also source
``listenbrainz``) do not, and are exported like any other."""
FROM_LISTENBRAINZ = "came from ListenBrainz"
NOT_EXPORTABLE = "not exportable: only a media id, no artist and title (unresolved)"
ALREADY_EXPORTED = "already exported to this ListenBrainz account"
ALREADY_ON_LB = "already on ListenBrainz"


@dataclass(frozen=True)
class ExportListen:
    """What a submission needs of a listen (from the SQL read model or from an event)."""

    listen_id: str
    user: str
    listened_at: datetime
    title: str
    artists: tuple[tuple[str, str], ...]
    """(name, role) in credit order."""
    source: str
    album: str | None = None
    duration_secs: int | None = None
    track_no: int | None = None
    disc_no: int | None = None
    recording_mbid: str | None = None
    release_mbid: str | None = None
    isrc: str | None = None
    unresolved: bool = False
    genres: tuple[str, ...] = field(default=())
    lb_msid: bool = False
    """True when ListenBrainz served this listen (it has a ``recording_msid``)."""


def from_event(event: ListenRecorded) -> ExportListen:
    return ExportListen(
        listen_id=event.event_id,
        user=event.user,
        listened_at=event.listened_at,
        title=event.title,
        artists=tuple((a.name, a.role) for a in event.artists),
        source=event.source,
        album=event.album,
        duration_secs=event.duration_secs,
        track_no=event.track_no,
        disc_no=event.disc_no,
        recording_mbid=event.recording_mbid,
        release_mbid=event.release_mbid,
        isrc=event.isrc,
        unresolved=event.unresolved,
        genres=event.genres,
        lb_msid=bool(event.extra and LB_MARK in event.extra),
    )


def skip_reason(listen: ExportListen) -> str | None:
    """Why ``listen`` is never sent, or None when it may be."""
    if listen.source in LB_SOURCES or listen.lb_msid:
        return FROM_LISTENBRAINZ
    if listen.unresolved or not listen.artists or not listen.title.strip():
        return NOT_EXPORTABLE
    return None


def _primary(listen: ExportListen) -> str:
    for name, role in listen.artists:
        if role == "primary":
            return name
    return listen.artists[0][0]


def remote_key(listened_at: int, artist: str, title: str) -> tuple[int, str, str]:
    """How a listen on ListenBrainz is matched with ours: second, normalised artist and title."""
    return listened_at, normalize_name(artist), normalize_title(title)


def local_key(listen: ExportListen) -> tuple[int, str, str]:
    return remote_key(int(listen.listened_at.timestamp()), _primary(listen), listen.title)


def lb_payload(listen: ExportListen) -> dict[str, Any]:
    """The ``submit-listens`` payload item; ``artist_name`` is the identifying (first primary) artist."""
    info: dict[str, Any] = {"submission_client": "scrobbler", "submission_client_version": "0.1.0"}
    if len(listen.artists) > 1:
        info["artist_names"] = [name for name, _ in listen.artists]
    if listen.duration_secs:
        info["duration_ms"] = listen.duration_secs * 1000
    if listen.track_no:
        info["tracknumber"] = listen.track_no
    if listen.disc_no:
        info["discnumber"] = listen.disc_no
    for key, value in (("recording_mbid", listen.recording_mbid), ("release_mbid", listen.release_mbid)):
        if mbid_or_none(value):
            info[key] = value
    if listen.isrc:
        info["isrc"] = listen.isrc
    if listen.genres:
        info["tags"] = [g[:64] for g in listen.genres[:50]]
    meta: dict[str, Any] = {
        "artist_name": _primary(listen),
        "track_name": listen.title,
        "additional_info": info,
    }
    if listen.album:
        meta["release_name"] = listen.album
    return {"listened_at": int(listen.listened_at.timestamp()), "track_metadata": meta}
