"""Every route the stats cube serves: ``/api/v1/stats/*``, ListenBrainz stats, live events."""

from __future__ import annotations

from typing import Any

from query_api.routes.events import event_routes
from query_api.routes.lb_stats import lb_stats_routes
from query_api.routes.stats import stats_routes
from query_api.routes.stats_detail import detail_routes

__all__ = ["cube_routes"]


def cube_routes() -> list[Any]:
    """Route handlers that read the cube (mounted with :func:`query_api.cube.cube_extension`)."""
    return [*stats_routes(), *detail_routes(), *lb_stats_routes(), *event_routes()]
