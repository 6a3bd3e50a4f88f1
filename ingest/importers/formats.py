"""The file formats we import, and telling them apart from a file's first bytes."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import BinaryIO, Literal

from ingest.importers.lastfm_csv import parse_lastfm_csv
from ingest.importers.lb_file import parse_listenbrainz_file
from ingest.importers.maloja import parse_maloja
from ingest.importers.rows import Row
from ingest.importers.spotify import parse_spotify

__all__ = ["FORMATS", "FileFormat", "Parser", "UnknownFormat", "detect_format", "parse_file"]

FileFormat = Literal["listenbrainz", "lastfm", "spotify", "maloja"]
Parser = Callable[..., Iterator[Row]]

FORMATS: dict[str, Parser] = {
    "listenbrainz": parse_listenbrainz_file,
    "lastfm": parse_lastfm_csv,
    "spotify": parse_spotify,
    "maloja": parse_maloja,
}

_HEAD = 64 * 1024
_SCROBBLES_KEY = re.compile(rb'"scrobbles"\s*:')


class UnknownFormat(ValueError):
    """The file's first bytes match none of the formats."""


def detect_format(fp: BinaryIO, name: str = "") -> FileFormat:
    """Guess the format from the first 64 KiB (and the file name for CSV); the file is rewound."""
    head = fp.read(_HEAD).lstrip(b"\xef\xbb\xbf").lstrip()
    fp.seek(0)
    if not head:
        raise UnknownFormat("the file is empty")
    if head[:1] == b"[":
        if b'"ms_played"' in head or b'"msPlayed"' in head:
            return "spotify"
        if b'"track_metadata"' in head:
            return "listenbrainz"
        raise UnknownFormat("a JSON array, but neither Spotify history nor ListenBrainz listens")
    if head[:1] == b"{":
        if _SCROBBLES_KEY.search(head) and b'"track_metadata"' not in head[:200]:
            return "maloja"
        if b'"track_metadata"' in head:
            return "listenbrainz"
        raise UnknownFormat("a JSON object, but neither a Maloja export nor ListenBrainz JSON lines")
    if name.lower().endswith(".csv") or b"," in head.split(b"\n", 1)[0]:
        return "lastfm"
    raise UnknownFormat("not JSON, and no comma-separated first line")


def parse_file(fp: BinaryIO, fmt: str, *, user: str, received_at: datetime) -> Iterator[Row]:
    """The rows of a file in format ``fmt`` (one of :data:`FORMATS`)."""
    return FORMATS[fmt](fp, user=user, received_at=received_at)
