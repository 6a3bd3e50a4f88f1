"""Subsonic / OpenSubsonic endpoints a scrobbling client needs.

``ping``, ``getLicense``, ``getOpenSubsonicExtensions``, ``scrobble``, ``getNowPlaying`` and the
OpenSubsonic ``reportPlayback``. Every method answers at ``/rest/<method>`` and
``/rest/<method>.view``, by GET (query) or POST (form body, OpenSubsonic ``formPost``), in the
``subsonic-response`` envelope (``f=xml|json|jsonp``); failures keep HTTP 200 and carry the
protocol's error code (503 only when the event stream cannot take the write).

The seed adds ``t`` (title), ``a`` (artist), ``al`` (album) and ``g`` (genre) to ``scrobble`` so
a listen can be stored without a media library; ``t`` is the title unless ``s`` (a salt) is
present, in which case it is the auth token. A scrobble with only an ``id`` is resolved through
the library index when the app has one (``app.state.media_index``), else stored as an
unresolved listen whose title is the media id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from litestar import Request, Response, route

from ingest.protocol_state import ProtocolState, protocol_state
from ingest.state import IngestState
from ingest.subsonic.auth import authenticate
from ingest.subsonic.envelope import SubsonicError, render
from ingest.subsonic.media import MediaInfo, resolve_media
from ingest.subsonic.scrobble import now_playing_from, playback_report, scrobble_events
from scrobbler.errors import ScrobblerError

__all__ = ["subsonic_routes"]

Method = Callable[["Call"], Awaitable[dict[str, Any] | None]]


class Call:
    """One Subsonic request: its parameters, the authenticated user, and the app's resources."""

    def __init__(self, request: Request[Any, Any, Any], single: dict[str, str], multi: dict[str, list[str]]):
        self.request = request
        self.single = single
        self.multi = multi
        self.user = ""
        self.now = datetime.now(UTC)

    @property
    def ingest(self) -> IngestState:
        return self.request.app.state.ingest  # type: ignore[no-any-return]

    @property
    def protocols(self) -> ProtocolState:
        return protocol_state(self.request)

    async def media(self, media_id: str) -> MediaInfo | None:
        return await resolve_media(self.request.app.state, media_id)


async def _params(request: Request[Any, Any, Any]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Query and form parameters merged: single values, and every value of repeated ones."""
    pairs = list(request.query_params.multi_items())
    if request.method == "POST":
        body = await request.body()
        if body:
            pairs.extend(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        single.setdefault(key, value)
        multi.setdefault(key, []).append(value)
    return single, multi


async def _ping(call: Call) -> None:
    return None


async def _license(call: Call) -> dict[str, Any]:
    return {"license": {"valid": True, "email": "", "licenseExpires": None}}


async def _extensions(call: Call) -> dict[str, Any]:
    return {
        "openSubsonicExtensions": [
            {"name": "formPost", "versions": [1]},
            {"name": "apiKeyAuthentication", "versions": [1]},
            {"name": "playbackReport", "versions": [1]},
        ]
    }


async def _scrobble(call: Call) -> None:
    if call.single.get("submission", "true").strip().lower() in ("false", "0"):
        entry = await now_playing_from(call)
        await call.protocols.now_playing.set(entry)
        return None
    events = await scrobble_events(call)
    await call.ingest.publisher.publish_all(events)
    return None


async def _now_playing(call: Call) -> dict[str, Any]:
    entries = await call.protocols.now_playing.all(call.now)
    out = []
    for e in entries:
        item: dict[str, Any] = {
            "id": e.media_id or "",
            "isDir": False,
            "title": e.title,
            "artist": e.artist,
            "username": e.user,
            "minutesAgo": int((call.now - e.started_at).total_seconds() // 60),
            "playerId": 0,
        }
        if e.album:
            item["album"] = e.album
        if e.duration_secs:
            item["duration"] = e.duration_secs
        if e.client:
            item["playerName"] = e.client
        out.append(item)
    return {"nowPlaying": {"entry": out}}


async def _report_playback(call: Call) -> None:
    await playback_report(call)
    return None


_METHODS: dict[str, tuple[Method, bool]] = {
    "ping": (_ping, True),
    "getLicense": (_license, True),
    "getOpenSubsonicExtensions": (_extensions, False),
    "scrobble": (_scrobble, True),
    "getNowPlaying": (_now_playing, True),
    "reportPlayback": (_report_playback, True),
}


def _handler(name: str, method: Method, needs_auth: bool) -> Any:
    @route(
        [f"/rest/{name}", f"/rest/{name}.view"],
        http_method=["GET", "POST"],
        status_code=200,
        tags=["subsonic"],
        name=f"subsonic-{name}",
        summary=f"Subsonic `{name}`",
        description="Subsonic envelope (`f=xml|json|jsonp`); auth by `u`+`t`+`s`, `u`+`p` or `apiKey`.",
    )
    async def handler(request: Request[Any, Any, Any]) -> Response[bytes]:
        single, multi = await _params(request)
        call = Call(request, single, multi)
        try:
            if needs_auth:
                call.user = await authenticate(single, call.protocols.credentials)
            return render(single, await method(call))
        except SubsonicError as exc:
            return render(single, error=exc)
        except ScrobblerError as exc:
            answer = render(single, error=SubsonicError(0, exc.detail))
            answer.status_code = exc.status_code
            answer.headers.update(exc.headers)
            return answer

    return handler


def subsonic_routes() -> list[Any]:
    return [_handler(name, method, auth) for name, (method, auth) in _METHODS.items()]
