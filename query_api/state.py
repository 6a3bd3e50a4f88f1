"""The long-lived resources of the query API, opened in the app lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from scrobbler.settings import Settings
from scrobbler.stream import StreamClient

__all__ = ["QueryState"]


@dataclass
class QueryState:
    settings: Settings
    engine: AsyncEngine
    stream: StreamClient
    extras: dict[str, Any] = field(default_factory=dict)
    """Resources later features attach (the cube, the live-event hub)."""
