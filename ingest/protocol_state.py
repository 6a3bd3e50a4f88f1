"""Resources the client protocols share (credentials, now playing), made once per app on first use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request

from ingest.credentials import Credentials
from ingest.now_playing import NowPlaying
from scrobbler.secrets import secret_box

__all__ = ["ProtocolState", "protocol_state"]


@dataclass
class ProtocolState:
    credentials: Credentials
    now_playing: NowPlaying


def protocol_state(request: Request[Any, Any, Any]) -> ProtocolState:
    """The app's protocol resources, built from its ingest (or query) state the first time."""
    app_state = request.app.state
    found = app_state.get("protocols")
    if isinstance(found, ProtocolState):
        return found
    base: Any = app_state.get("ingest") or app_state.get("query")
    settings = base.settings
    state = ProtocolState(
        credentials=Credentials(
            base.engine if hasattr(base, "engine") else base.directory.engine,
            secret_box(settings),
            env_admin_key=settings.http.api_key,
        ),
        now_playing=NowPlaying(base.stream, settings.nats.subject_prefix),
    )
    app_state["protocols"] = state
    return state
