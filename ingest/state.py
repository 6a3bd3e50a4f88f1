"""The long-lived resources of the ingest service, opened in the app lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from ingest.directory import Directory
from ingest.publish import Publisher
from scrobbler.secrets import SecretBox
from scrobbler.settings import Settings
from scrobbler.stream import StreamClient

__all__ = ["IngestState"]


@dataclass
class IngestState:
    settings: Settings
    stream: StreamClient
    publisher: Publisher
    directory: Directory
    box: SecretBox
