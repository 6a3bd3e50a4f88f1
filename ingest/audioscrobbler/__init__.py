"""Audioscrobbler 2.0 (Last.fm-compatible) API at ``/2.0/``."""

from ingest.audioscrobbler.routes import audioscrobbler_routes

__all__ = ["audioscrobbler_routes"]
