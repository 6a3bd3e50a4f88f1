"""Ingest: validates writes and appends them to the event stream."""

from ingest.app import ingest_routes

__all__ = ["ingest_routes"]
