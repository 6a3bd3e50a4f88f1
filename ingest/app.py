"""The ingest service's routes: every write, each answered after the stream acknowledged it."""

from __future__ import annotations

from typing import Any

from ingest.audioscrobbler import audioscrobbler_routes
from ingest.jobs.routes import job_routes
from ingest.listenbrainz import listenbrainz_router
from ingest.routes.config import put_config
from ingest.routes.listens import delete_listens
from ingest.routes.scrobble import submit_scrobbles
from ingest.routes.users import user_routes
from ingest.subsonic.routes import subsonic_routes

__all__ = ["ingest_routes"]


def ingest_routes() -> list[Any]:
    """Route handlers of the ingest service (mounted alone, or beside the query API's)."""
    return [
        submit_scrobbles,
        put_config,
        delete_listens,
        *subsonic_routes(),
        *job_routes(),
        listenbrainz_router(),
        *audioscrobbler_routes(),
        *user_routes(),
    ]
