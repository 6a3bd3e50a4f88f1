"""Last.fm scrobble CSV exports, streamed row by row.

Two layouts exist in the wild: lastfm.ghan.nl's ``artist,album,track,date`` without a header
(``31 Jan 2021 12:34``, UTC), and the ``uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid``
layout with a header (benjaminbenben's lastfm-to-csv). The header decides.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import BinaryIO

from ingest.importers.rows import Bad, Parsed, Row, RowError, clip, mbid_or_none
from schemas.events import ArtistCredit, ListenRecorded
from schemas.listens import MIN_LISTENED_AT, new_listen

__all__ = ["SOURCE", "parse_lastfm_csv"]

SOURCE = "import:lastfm"
_DATE_FORMATS = ("%d %b %Y %H:%M", "%d %b %Y, %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")
_FUTURE = timedelta(hours=1)


def _parse_time(uts: str | None, text: str | None) -> datetime:
    if uts and uts.strip().isdigit():
        return datetime.fromtimestamp(int(uts.strip()), tz=UTC)
    value = (text or "").strip()
    if not value:
        raise RowError("date: empty (a now-playing row?)")
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise RowError(f"date: {value!r} is not like '31 Jan 2021 12:34'")


def _listen(
    *,
    user: str,
    received_at: datetime,
    artist: str | None,
    title: str | None,
    album: str | None,
    at: datetime,
    artist_mbid: str | None = None,
    album_mbid: str | None = None,
    track_mbid: str | None = None,
) -> ListenRecorded:
    name, track = clip(artist), clip(title)
    if name is None:
        raise RowError("artist: empty")
    if track is None:
        raise RowError("track: empty")
    if at < MIN_LISTENED_AT:
        raise RowError(f"date: {at.isoformat()} is before 2002-10-01")
    if at > received_at + _FUTURE:
        raise RowError(f"date: {at.isoformat()} is in the future")
    return new_listen(
        user=user,
        listened_at=at,
        title=track,
        artists=[ArtistCredit(name=name, mbid=mbid_or_none(artist_mbid))],
        received_at=received_at,
        album=clip(album),
        source=SOURCE,
        recording_mbid=mbid_or_none(track_mbid),
        release_mbid=mbid_or_none(album_mbid),
    )


def _row(
    header: dict[str, int] | None, cells: Sequence[str], user: str, received_at: datetime
) -> ListenRecorded:
    if header is None:
        if len(cells) < 4:
            raise RowError(f"expected 4 columns (artist, album, track, date), got {len(cells)}")
        artist, album, title, date = cells[:4]
        return _listen(
            user=user,
            received_at=received_at,
            artist=artist,
            title=title,
            album=album,
            at=_parse_time(None, date),
        )

    def cell(name: str) -> str | None:
        i = header.get(name)
        return cells[i] if i is not None and i < len(cells) else None

    return _listen(
        user=user,
        received_at=received_at,
        artist=cell("artist"),
        title=cell("track") or cell("title"),
        album=cell("album"),
        at=_parse_time(cell("uts"), cell("utc_time") or cell("date")),
        artist_mbid=cell("artist_mbid"),
        album_mbid=cell("album_mbid"),
        track_mbid=cell("track_mbid"),
    )


def parse_lastfm_csv(fp: BinaryIO, *, user: str, received_at: datetime) -> Iterator[Row]:
    """Every scrobble of a Last.fm CSV export; bad rows reported with their line, never fatal."""
    text = io.TextIOWrapper(fp, encoding="utf-8-sig", errors="replace", newline="")
    reader = csv.reader(text)
    header: dict[str, int] | None = None
    first = True
    for cells in reader:
        line = reader.line_num
        if not cells or not any(c.strip() for c in cells):
            continue
        if first:
            first = False
            lowered = [c.strip().lower() for c in cells]
            if "artist" in lowered and ("track" in lowered or "title" in lowered):
                header = {name: i for i, name in enumerate(lowered)}
                continue
        try:
            yield Parsed(line, _row(header, cells, user, received_at))
        except RowError as exc:
            yield Bad(line, str(exc))
    text.detach()
