"""ListenBrainz-compatible API (writes): ``/1/submit-listens`` and friends."""

from ingest.listenbrainz.routes import listenbrainz_router

__all__ = ["listenbrainz_router"]
