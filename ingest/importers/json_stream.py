"""Items of a large JSON array read incrementally (ijson's C backend), so memory stays flat."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

import ijson

from ingest.importers.rows import Bad

__all__ = ["first_byte", "json_items"]


def first_byte(fp: BinaryIO) -> bytes:
    """The first non-blank byte of a seekable file (a UTF-8 BOM skipped); the file is rewound."""
    head = fp.read(4096).lstrip(b"\xef\xbb\xbf").lstrip()
    fp.seek(0)
    return head[:1]


def json_items(fp: BinaryIO, prefix: str) -> Iterator[tuple[int, Any]]:
    """``(item number, item)`` for each element under ``prefix``; malformed JSON ends it with a Bad."""
    number = 0
    try:
        for number, item in enumerate(ijson.items(fp, prefix, use_float=True), 1):
            yield number, item
    except ijson.JSONError as exc:
        yield number + 1, Bad(number + 1, f"malformed JSON after item {number}: {exc}")
