"""Audioscrobbler 2.0 (Last.fm web service) at ``/2.0/``: sessions, scrobbles, now playing.

Parameters come as a POST form or a query string (pylast puts ``username`` in the query and the
rest in the form), merged. Answers are Last.fm's XML, or JSON with ``format=json``. A scrobble
the server already has is answered as accepted: clients retry errors forever.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from litestar import Request, Response, route

from ingest.audioscrobbler.answers import LastfmError, render, render_error
from ingest.audioscrobbler.scrobbles import now_playing_entry, scrobble_items
from ingest.audioscrobbler.signing import check_signature, login, user_for_session
from ingest.protocol_state import protocol_state
from ingest.state import IngestState
from scrobbler.errors import ScrobblerError

__all__ = ["audioscrobbler_routes"]


async def _params(request: Request[Any, Any, Any]) -> dict[str, str]:
    params = dict(request.query_params.items())
    if request.method == "POST":
        body = await request.body()
        if body:
            params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def _text(value: str) -> dict[str, Any]:
    return {"@attr": {"corrected": "0"}, "#text": value} if value else {"@attr": {"corrected": "0"}}


async def _mobile_session(request: Request[Any, Any, Any], params: dict[str, str]) -> dict[str, Any]:
    username = params.get("username", "")
    if not username or ("password" not in params and "authToken" not in params):
        raise LastfmError(6, "Invalid parameters - username and password (or authToken) are required")
    creds = protocol_state(request).credentials
    key = await login(username, params.get("password"), params.get("authToken"), creds)
    return {"session": {"name": username, "key": key, "subscriber": 0}}


async def _scrobble(request: Request[Any, Any, Any], params: dict[str, str], user: str) -> dict[str, Any]:
    items = scrobble_items(user, params, datetime.now(UTC))
    events = [i.event for i in items if i.event is not None]
    if events:
        state: IngestState = request.app.state.ingest
        await state.publisher.publish_all(events)  # a duplicate is acknowledged like a new one
    answers = [
        {
            "track": _text(i.track),
            "artist": _text(i.artist),
            "album": _text(i.album),
            "albumArtist": _text(i.album_artist),
            "timestamp": i.timestamp,
            "ignoredMessage": {"@attr": {"code": str(i.ignored_code)}, "#text": i.ignored_message},
        }
        for i in items
    ]
    accepted = len(events)
    return {
        "scrobbles": {
            "@attr": {"accepted": accepted, "ignored": len(items) - accepted},
            "scrobble": answers[0] if len(answers) == 1 else answers,
        }
    }


async def _now_playing(request: Request[Any, Any, Any], params: dict[str, str], user: str) -> dict[str, Any]:
    entry = now_playing_entry(user, params, datetime.now(UTC))
    await protocol_state(request).now_playing.set(entry)
    return {
        "nowplaying": {
            "track": _text(entry.title),
            "artist": _text(entry.artist),
            "album": _text(entry.album or ""),
            "albumArtist": _text(params.get("albumArtist", "")),
            "ignoredMessage": {"@attr": {"code": "0"}, "#text": ""},
        }
    }


_SESSION_METHODS = {"track.scrobble": _scrobble, "track.updatenowplaying": _now_playing}


async def answer(request: Request[Any, Any, Any], params: dict[str, str]) -> dict[str, Any]:
    method = params.get("method", "").lower()
    if not method:
        raise LastfmError(3, "Invalid Method - No method with that name in this package")
    keys = dict(request.app.state.ingest.settings.lastfm_api_keys)
    if method == "auth.getmobilesession":
        check_signature(params, keys, required=True)
        return await _mobile_session(request, params)
    handler = _SESSION_METHODS.get(method)
    if handler is None:
        raise LastfmError(3, "Invalid Method - No method with that name in this package")
    check_signature(params, keys, required=True)
    sk = params.get("sk", "")
    if not sk:
        raise LastfmError(9, "Invalid session key - Please re-authenticate")
    user = await user_for_session(sk, protocol_state(request).credentials)
    return await handler(request, params, user)


@route(
    ["/2.0", "/2.0/"],
    http_method=["GET", "POST"],
    status_code=200,
    tags=["audioscrobbler"],
    summary="Audioscrobbler 2.0 (Last.fm-compatible): sessions, track.scrobble, track.updateNowPlaying",
    description="Form (or query) parameters `method`, `api_key`, `sk`, `api_sig`, `format=json`; answers"
    ' Last.fm\'s XML or JSON, errors `<lfm status="failed"><error code="N">`.',
)
async def audioscrobbler(request: Request[Any, Any, Any]) -> Response[bytes]:
    params = await _params(request)
    try:
        return render(params, await answer(request, params))
    except LastfmError as exc:
        return render_error(params, exc)
    except ScrobblerError as exc:
        code = 16 if exc.status_code == 503 else 6
        return render_error(params, LastfmError(code, exc.detail), exc.headers)


def audioscrobbler_routes() -> list[Any]:
    return [audioscrobbler]
