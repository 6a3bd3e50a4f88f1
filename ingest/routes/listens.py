"""``DELETE /api/v1/listens``: a tombstone for all listens, a user's, a time range or given listens."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, delete
from litestar.params import FromQuery, QueryParameter

from ingest.admin import require_admin
from ingest.state import IngestState
from query_api.periods import parse_instant
from schemas.events import ListensDeleted
from scrobbler.errors import BadRequest

__all__ = ["Tombstone", "delete_listens"]


class Tombstone(msgspec.Struct, frozen=True):
    """The tombstone is in the stream: every read model removes the matching listens within a second."""

    tombstone_id: str
    user: str | None
    since: datetime | None
    until: datetime | None
    listen_ids: list[str]


@delete(
    "/api/v1/listens",
    status_code=202,
    tags=["listens"],
    summary="Delete listens: all of them, a user's, a time range, or given listen ids",
    description=(
        "Without parameters every listen of every user is deleted (the original product's behaviour)."
        " `user`, `from`/`to` (ISO 8601 or Unix seconds; `to` exclusive) and `listen_id` (repeatable) narrow"
        " it. Appends a tombstone event; listens submitted again afterwards come back. Admin key required"
        " when configured."
    ),
)
async def delete_listens(
    request: Request[Any, Any, Any],
    user: FromQuery[str | None] = None,
    from_: Annotated[str | None, QueryParameter(name="from")] = None,
    to: FromQuery[str | None] = None,
    listen_id: Annotated[list[str] | None, QueryParameter(max_items=1000)] = None,
) -> Tombstone:
    state: IngestState = request.app.state.ingest
    await require_admin(request, state.settings.http.api_key, state.directory)
    since = parse_instant(from_, "from") if from_ else None
    until = parse_instant(to, "to") if to else None
    if since and until and until <= since:
        raise BadRequest("to: must be after from")
    event = ListensDeleted(
        event_id=uuid.uuid4().hex,
        occurred_at=datetime.now(UTC),
        user=user or None,
        since=since,
        until=until,
        listen_ids=tuple(listen_id or ()),
    )
    await state.publisher.publish_all([event])
    return Tombstone(
        tombstone_id=event.event_id,
        user=event.user,
        since=since,
        until=until,
        listen_ids=list(event.listen_ids),
    )
