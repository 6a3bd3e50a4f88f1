"""``GET /api/v1/events``: server-sent events telling the UI the stats changed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from litestar import Request, get
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from query_api.routes.stats_params import cube_of

__all__ = ["PING_SECONDS", "event_routes"]

PING_SECONDS = 15.0


class ListensChanged(msgspec.Struct, frozen=True):
    position: int
    """Stream sequence the cube has applied."""
    count: int
    """Listens the batch added."""
    removed: int = 0
    """Listens the batch removed (tombstones)."""


_ENCODER = msgspec.json.Encoder()


@get(
    "/api/v1/events",
    tags=["stats"],
    summary="Server-sent events: `listens` after each cube batch that added or removed listens; `: ping` every 15 s",
)
async def events(request: Request[Any, Any, Any]) -> ServerSentEvent:
    cube = cube_of(request)

    async def stream() -> AsyncIterator[ServerSentEventMessage]:
        with cube.hub.subscribe() as queue:
            yield ServerSentEventMessage(comment="ping")  # tells the client the stream is open
            while True:
                try:
                    change = await asyncio.wait_for(queue.get(), PING_SECONDS)
                except TimeoutError:
                    yield ServerSentEventMessage(comment="ping")
                    continue
                body = ListensChanged(position=change.position, count=change.count, removed=change.removed)
                yield ServerSentEventMessage(
                    data=_ENCODER.encode(body).decode(), event="listens", id=change.position
                )

    return ServerSentEvent(stream(), headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def event_routes() -> list[Any]:
    return [events]
