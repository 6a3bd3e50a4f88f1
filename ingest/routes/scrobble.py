"""``POST /api/v1/scrobble``: the seed's JSON listen, or an array of up to 1000."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Request, post

from ingest.convert import decode_scrobbles, scrobbles_to_events
from ingest.state import IngestState
from scrobbler.http import read_body

__all__ = ["Accepted", "submit_scrobbles"]


class Accepted(msgspec.Struct, frozen=True):
    """Every listen is in the stream: their ids, how many, and how many it already had."""

    listen_ids: list[str]
    accepted: int
    duplicates: int


@post(
    "/api/v1/scrobble",
    status_code=202,
    tags=["ingest"],
    summary="Submit one listen or an array of up to 1000 (seed JSON)",
    description=(
        "Body: a JSON scrobble `{user, source, listened_at, position_secs, duration_secs, track: {title, album,"
        " album_year, track_no, disc_no, duration_secs, mbid, isrc}, artists: [{name, role}], genres}` or an"
        " array of them. `listened_at` is ISO 8601 with a timezone or Unix seconds. Answered 202 only after"
        " the event stream acknowledged every listen; a batch with one bad listen writes nothing and the 400"
        " names its index and field; 503 with Retry-After when the stream is unreachable."
    ),
)
async def submit_scrobbles(request: Request[Any, Any, Any]) -> Accepted:
    state: IngestState = request.app.state.ingest
    items = decode_scrobbles(await read_body(request))
    default_user = "" if all(item.user for item in items) else await state.directory.default_user()
    events = scrobbles_to_events(items, default_user=default_user, received_at=datetime.now(UTC))
    result = await state.publisher.publish_all(events)
    return Accepted(
        listen_ids=[e.event_id for e in events], accepted=len(events), duplicates=result.duplicate_count
    )
