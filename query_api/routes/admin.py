"""``GET /api/v1/admin/status``: stream, consumers and read-model positions for the UI."""

from __future__ import annotations

from typing import Any

from litestar import Request, get

from query_api.state import QueryState
from scrobbler.errors import Unavailable
from scrobbler.status import Status, gather_status

__all__ = ["admin_status"]


@get(
    "/api/v1/admin/status",
    tags=["admin"],
    summary="Stream size, each consumer's lag and each read model's position",
    description=(
        "What `scrobbler status --json` prints: the stream's messages, bytes and first/last sequence, each"
        " durable consumer's lag (events not yet delivered), unacknowledged events and last activity, and"
        " each read model's position (SQL projections and this replica's stats cube)."
    ),
)
async def admin_status(request: Request[Any, Any, Any]) -> Status:
    state: QueryState = request.app.state.query
    js = state.stream.js
    if js is None or not state.stream.connected:
        raise Unavailable("the event stream is not reachable; retry later")
    cube = state.extras.get("cube")
    if cube is None or not hasattr(cube, "consumer"):
        return await gather_status(js, state.settings, state.engine)
    return await gather_status(
        js, state.settings, state.engine, cube=(cube.consumer, cube.position), cube_updated_at=cube.updated_at
    )
