"""The ListenBrainz submit payload: decoding, ListenBrainz's own limits, and conversion to events.

Pure functions; every refusal is a :class:`~scrobbler.errors.BadRequest` whose text names the
listen (``payload[i]``) and the field, answered as ``{"code": 400, "error": ...}``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import msgspec

from ingest.now_playing import NowPlayingEntry, entry_ttl
from schemas.events import ArtistCredit, ListenRecorded
from schemas.listens import MIN_LISTENED_AT, new_listen
from scrobbler.errors import BadRequest

__all__ = [
    "MAX_DURATION_S",
    "MAX_LISTENS_PER_REQUEST",
    "MAX_LISTEN_BYTES",
    "MAX_PAYLOAD_BYTES",
    "ListenIn",
    "Submission",
    "TrackMetadata",
    "decode_submission",
    "listen_events",
    "now_playing_entry",
]

MAX_LISTENS_PER_REQUEST = 1000
MAX_LISTEN_BYTES = 10_240
MAX_PAYLOAD_BYTES = 10_240_000
MAX_TAGS = 50
MAX_TAG_CHARS = 64
MAX_DURATION_S = 24 * 24 * 3600
FUTURE_TOLERANCE = timedelta(hours=1)
MBID_SINGLE = ("release_mbid", "recording_mbid", "release_group_mbid", "track_mbid")
MBID_LISTS = ("artist_mbids", "work_mbids")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")


class TrackMetadata(msgspec.Struct, frozen=True, kw_only=True):
    artist_name: str
    track_name: str
    release_name: str | None = None
    additional_info: dict[str, Any] = {}


class ListenIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One listen: only ``listened_at`` and ``track_metadata`` (ListenBrainz refuses anything else)."""

    track_metadata: TrackMetadata
    listened_at: int | None = None


class Submission(msgspec.Struct, frozen=True, kw_only=True):
    listen_type: Literal["single", "playing_now", "import"]
    payload: list[msgspec.Raw]


class Decoded(msgspec.Struct, frozen=True):
    listen_type: str
    listens: list[ListenIn]


_SUBMISSION = msgspec.json.Decoder(Submission)
_LISTEN = msgspec.json.Decoder(ListenIn)


def decode_submission(body: bytes) -> Decoded:
    """Decode and check the request's shape, counts and sizes (not yet each field's meaning)."""
    if len(body) > MAX_PAYLOAD_BYTES:
        raise BadRequest(f"Payload too large: at most {MAX_PAYLOAD_BYTES} bytes in one request")
    if not body.strip():
        raise BadRequest("Cannot parse JSON document: the body is empty")
    if b"\\u0000" in body or b"\x00" in body:
        raise BadRequest("Listens may not contain NUL characters")
    try:
        sub = _SUBMISSION.decode(body)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"Invalid JSON document: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise BadRequest(f"Cannot parse JSON document: {exc}") from exc
    if not sub.payload:
        raise BadRequest("JSON document does not contain any listens in payload")
    if sub.listen_type in ("single", "playing_now") and len(sub.payload) != 1:
        raise BadRequest(f"JSON document should contain exactly one listen for listen_type {sub.listen_type}")
    if len(sub.payload) > MAX_LISTENS_PER_REQUEST:
        raise BadRequest(f"Too many listens: at most {MAX_LISTENS_PER_REQUEST} in one request")
    listens = []
    for i, raw in enumerate(sub.payload):
        if len(raw) > MAX_LISTEN_BYTES:
            raise BadRequest(f"payload[{i}]: a listen may not be larger than {MAX_LISTEN_BYTES} bytes")
        try:
            listens.append(_LISTEN.decode(raw))
        except msgspec.ValidationError as exc:
            raise BadRequest(f"payload[{i}]: {exc}") from exc
    return Decoded(listen_type=sub.listen_type, listens=listens)


def _int(value: Any, where: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BadRequest(f"{where}: must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise BadRequest(f"{where}: must be an integer")


def _checked_info(info: dict[str, Any], where: str) -> dict[str, Any]:
    """``additional_info`` with empty MBIDs dropped; bad MBIDs, tags or durations refused."""
    kept = dict(info)
    for key in MBID_SINGLE:
        value = kept.get(key)
        if value in (None, ""):
            kept.pop(key, None)
        elif not isinstance(value, str) or not _UUID.match(value):
            raise BadRequest(f"{where}.{key}: {value!r} is not a valid MBID (UUID)")
    for key in MBID_LISTS:
        values = kept.get(key)
        if values is None:
            continue
        if not isinstance(values, list):
            raise BadRequest(f"{where}.{key}: must be a list of MBIDs")
        ids = [v for v in values if v not in (None, "")]
        for v in ids:
            if not isinstance(v, str) or not _UUID.match(v):
                raise BadRequest(f"{where}.{key}: {v!r} is not a valid MBID (UUID)")
        kept[key] = ids
    tags = kept.get("tags")
    if tags is not None:
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise BadRequest(f"{where}.tags: must be a list of strings")
        if len(tags) > MAX_TAGS:
            raise BadRequest(f"{where}.tags: at most {MAX_TAGS} tags per listen")
        for t in tags:
            if len(t) > MAX_TAG_CHARS:
                raise BadRequest(f"{where}.tags: tag {t[:20]!r}... is longer than {MAX_TAG_CHARS} characters")
    if "duration" in kept and "duration_ms" in kept:
        raise BadRequest(f"{where}: give duration or duration_ms, not both")
    for key, scale in (("duration", 1), ("duration_ms", 1000)):
        if key in kept:
            value = _int(kept[key], f"{where}.{key}")
            if value is not None and not 0 < value <= MAX_DURATION_S * scale:
                raise BadRequest(f"{where}.{key}: must be positive and at most 24 days")
    return kept


def _duration_secs(info: dict[str, Any], where: str) -> int | None:
    if "duration" in info:
        return _int(info["duration"], f"{where}.duration")
    ms = _int(info.get("duration_ms"), f"{where}.duration_ms")
    return round(ms / 1000) if ms else None


def _names(meta: TrackMetadata, where: str) -> tuple[str, str]:
    artist = meta.artist_name.strip()
    title = meta.track_name.strip()
    if not artist:
        raise BadRequest(f"{where}.track_metadata.artist_name: must not be empty")
    if not title:
        raise BadRequest(f"{where}.track_metadata.track_name: must not be empty")
    if len(artist) > 512 or len(title) > 512:
        raise BadRequest(f"{where}.track_metadata: artist_name and track_name are at most 512 characters")
    return artist, title


def _client(info: dict[str, Any]) -> str | None:
    name = info.get("submission_client") or info.get("media_player") or info.get("listening_from")
    if not isinstance(name, str) or not name:
        return None
    version = info.get("submission_client_version") if info.get("submission_client") else None
    return f"{name} {version}"[:128] if isinstance(version, str) and version else name[:128]


def listen_events(decoded: Decoded, *, user: str, received_at: datetime) -> list[ListenRecorded]:
    """The events of a ``single`` or ``import`` submission, or a BadRequest naming the first bad listen."""
    events = []
    for i, item in enumerate(decoded.listens):
        where = f"payload[{i}]"
        if item.listened_at is None:
            raise BadRequest(f"{where}: JSON document must contain the key listened_at at the top level")
        at = datetime.fromtimestamp(item.listened_at, tz=UTC) if 0 <= item.listened_at < 1 << 40 else None
        if at is None or at < MIN_LISTENED_AT:
            raise BadRequest(f"{where}.listened_at: {item.listened_at} is before 2002-10-01 (1033410600)")
        if at > received_at + FUTURE_TOLERANCE:
            raise BadRequest(f"{where}.listened_at: {item.listened_at} is more than an hour in the future")
        artist, title = _names(item.track_metadata, where)
        info = _checked_info(item.track_metadata.additional_info, f"{where}.track_metadata.additional_info")
        artist_mbids = info.get("artist_mbids") or []
        tags = tuple(dict.fromkeys(t.strip() for t in info.get("tags", []) if t.strip()))
        release = (item.track_metadata.release_name or "").strip() or None
        album_artist = info.get("release_artist_name")
        isrc = info.get("isrc")
        events.append(
            new_listen(
                user=user,
                listened_at=at,
                title=title,
                artists=[ArtistCredit(name=artist, mbid=artist_mbids[0] if len(artist_mbids) == 1 else None)],
                received_at=received_at,
                album=release,
                album_artist=album_artist if isinstance(album_artist, str) and album_artist else None,
                track_no=_small(info.get("tracknumber")),
                disc_no=_small(info.get("discnumber")),
                duration_secs=_duration_secs(info, where),
                genres=tags,
                source="listenbrainz",
                client=_client(info),
                recording_mbid=info.get("recording_mbid"),
                release_mbid=info.get("release_mbid"),
                isrc=isrc[:16] if isinstance(isrc, str) and isrc else None,
                extra=info or None,
            )
        )
    return events


def _small(value: Any) -> int | None:
    """A track or disc number when it is one (clients send ``"3"``, ``"3/12"`` or junk)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10_000:
        return value
    if isinstance(value, str):
        head = value.split("/", 1)[0].strip()
        if head.isdigit() and int(head) <= 10_000:
            return int(head)
    return None


def now_playing_entry(decoded: Decoded, *, user: str, now: datetime) -> NowPlayingEntry:
    """The now-playing entry of a ``playing_now`` submission."""
    item = decoded.listens[0]
    artist, title = _names(item.track_metadata, "payload[0]")
    info = _checked_info(item.track_metadata.additional_info, "payload[0].track_metadata.additional_info")
    duration = _duration_secs(info, "payload[0]")
    return NowPlayingEntry(
        user=user,
        title=title,
        artist=artist,
        album=(item.track_metadata.release_name or "").strip() or None,
        started_at=now,
        expires_at=now + timedelta(seconds=entry_ttl(duration)),
        duration_secs=duration,
        source="listenbrainz",
        client=_client(info),
        extra=info or None,
    )
