"""The query API's routes: every read."""

from __future__ import annotations

from typing import Any

from query_api.routes.config import get_config
from query_api.routes.jobs import job_read_routes
from query_api.routes.listenbrainz import listenbrainz_read_router
from query_api.routes.listens import listen_routes
from query_api.routes.users import list_users

__all__ = ["query_routes"]


def query_routes() -> list[Any]:
    """Route handlers of the query API (mounted alone, or beside ingest's)."""
    return [*listen_routes(), get_config, *job_read_routes(), listenbrainz_read_router(), list_users]
