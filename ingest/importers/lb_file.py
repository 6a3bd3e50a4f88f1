"""ListenBrainz export files: JSON Lines (one listen a line) or one JSON array of listens. Streaming."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import BinaryIO

import msgspec

from ingest.importers.json_stream import first_byte, json_items
from ingest.importers.lb_listen import LB_LISTEN_DECODER, LbListen, lb_listen_event
from ingest.importers.rows import Bad, Parsed, Row, RowError

__all__ = ["SOURCE", "parse_listenbrainz_file"]

SOURCE = "import:listenbrainz"


def _event(listen: LbListen, line: int, user: str, received_at: datetime) -> Row:
    try:
        return Parsed(line, lb_listen_event(listen, user=user, received_at=received_at, source=SOURCE))
    except RowError as exc:
        return Bad(line, str(exc))


def parse_listenbrainz_file(fp: BinaryIO, *, user: str, received_at: datetime) -> Iterator[Row]:
    """Every listen of a ListenBrainz export, in file order; bad rows reported, never fatal."""
    if first_byte(fp) == b"[":
        for number, item in json_items(fp, "item"):
            if isinstance(item, Bad):
                yield item
                return
            try:
                listen = msgspec.convert(item, LbListen)
            except msgspec.ValidationError as exc:
                yield Bad(number, str(exc))
                continue
            yield _event(listen, number, user, received_at)
        return
    for number, raw in enumerate(fp, 1):
        if not raw.strip():
            continue
        try:
            listen = LB_LISTEN_DECODER.decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            yield Bad(number, str(exc))
            continue
        yield _event(listen, number, user, received_at)
