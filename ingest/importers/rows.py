"""What a streaming parser yields for each row of an import: a listen, or why not."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from schemas.events import ListenRecorded

__all__ = ["MAX_NAME", "Bad", "Parsed", "Row", "RowError", "Skipped", "clip", "mbid_or_none", "positive_int"]

MAX_NAME = 512
"""Longest artist/title/album the read models store (longer ones are cut)."""

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class Parsed(NamedTuple):
    """Row ``line`` (1-based line, or item number in a JSON array) became a listen."""

    line: int
    event: ListenRecorded


class Bad(NamedTuple):
    """Row ``line`` could not be read: counted as an error and reported with ``reason``."""

    line: int
    reason: str


class Skipped(NamedTuple):
    """Row ``line`` was read but is not a listen (a podcast, a play under 30 s)."""

    line: int
    reason: str


Row = Parsed | Bad | Skipped


class RowError(ValueError):
    """A row that cannot become a listen; the message says why."""


def clip(value: Any, limit: int = MAX_NAME) -> str | None:
    """A stripped string cut to ``limit`` characters, or None when empty or not a string."""
    if not isinstance(value, str):
        return None
    text = value.replace("\x00", "").strip()
    return text[:limit] if text else None


def mbid_or_none(value: Any) -> str | None:
    """A MusicBrainz id when ``value`` is UUID-shaped, else None (empty and junk ids are dropped)."""
    return value.lower() if isinstance(value, str) and _UUID.match(value) else None


def positive_int(value: Any, *, limit: int = 24 * 24 * 3600) -> int | None:
    """A positive whole number no larger than ``limit`` from an int, float or numeric string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip().split("/")[0]
        if not value.isdigit():
            return None
        value = int(value)
    if isinstance(value, float):
        value = int(value)
    if isinstance(value, int) and 0 < value <= limit:
        return value
    return None
