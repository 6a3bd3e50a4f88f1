"""Subsonic / OpenSubsonic endpoints a scrobbling client needs: ``scrobble``, ``ping`` and friends.

Every method answers at ``/rest/<method>`` and ``/rest/<method>.view``, by GET (query) or POST
(form body, OpenSubsonic ``formPost``). The seed adds ``t`` (title), ``a`` (artist), ``al``
(album) and ``g`` (genre) to ``scrobble`` so a listen can be stored without a media library;
``t`` is the title unless ``s`` (a salt) is present, in which case it is the auth token.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from litestar import Request, Response, route

from ingest.convert import check_listened_at
from ingest.state import IngestState
from ingest.subsonic.envelope import SubsonicError, render
from schemas.events import ArtistCredit, ListenRecorded
from schemas.listens import new_listen
from scrobbler.errors import BadRequest

__all__ = ["subsonic_routes"]

UNKNOWN_ARTIST = "[unknown]"
"""MusicBrainz's name for an unknown artist, used when a scrobble carries only a media id."""


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


def _scrobble_events(single: dict[str, str], multi: dict[str, list[str]], user: str, now: datetime) -> list[ListenRecorded]:
    ids = multi.get("id", [])
    if not ids:
        raise SubsonicError(10, "Required parameter is missing: id")
    times = multi.get("time", [])
    if times and len(times) != len(ids):
        raise SubsonicError(0, f"{len(ids)} id values but {len(times)} time values: give one time per id")
    title = None if "s" in single else single.get("t")
    artist = single.get("a")
    album = single.get("al") or None
    genres = tuple(g for g in multi.get("g", []) if g.strip())
    events = []
    for i, media_id in enumerate(ids):
        try:
            at = datetime.fromtimestamp(int(times[i]) / 1000, tz=UTC) if times else now
        except (ValueError, OverflowError) as exc:
            raise SubsonicError(0, f"time={times[i]!r} is not milliseconds since the epoch") from exc
        try:
            check_listened_at(at, now, "time")
        except BadRequest as exc:
            raise SubsonicError(0, exc.detail) from exc
        # The seed's title/artist describe the (single) track of the call; ids beyond it stay unresolved.
        resolved = bool(title and artist) and i == 0
        events.append(
            new_listen(
                user=user,
                listened_at=at,
                title=title if resolved and title else media_id,
                artists=[ArtistCredit(name=artist if resolved and artist else UNKNOWN_ARTIST)],
                received_at=now,
                album=album if resolved else None,
                genres=genres if resolved else (),
                source="subsonic",
                source_track_id=media_id,
                client=single.get("c"),
                unresolved=not resolved,
            )
        )
    return events


def subsonic_routes() -> list[Any]:
    methods = ["GET", "POST"]

    @route(["/rest/ping", "/rest/ping.view"], http_method=methods, status_code=200, tags=["subsonic"])
    async def ping(request: Request[Any, Any, Any]) -> Response[bytes]:
        single, _ = await _params(request)
        return render(single)

    @route(["/rest/getLicense", "/rest/getLicense.view"], http_method=methods, status_code=200, tags=["subsonic"])
    async def get_license(request: Request[Any, Any, Any]) -> Response[bytes]:
        single, _ = await _params(request)
        return render(single, {"license": {"valid": True}})

    @route(
        ["/rest/getOpenSubsonicExtensions", "/rest/getOpenSubsonicExtensions.view"],
        http_method=methods,
        status_code=200,
        tags=["subsonic"],
    )
    async def extensions(request: Request[Any, Any, Any]) -> Response[bytes]:
        single, _ = await _params(request)
        return render(single, {"openSubsonicExtensions": [{"name": "formPost", "versions": [1]}]})

    @route(["/rest/scrobble", "/rest/scrobble.view"], http_method=methods, status_code=200, tags=["subsonic"])
    async def scrobble(request: Request[Any, Any, Any]) -> Response[bytes]:
        """Subsonic ``scrobble`` with the seed's ``t``, ``a``, ``al``, ``g``; ``submission=false`` is now playing."""
        state: IngestState = request.app.state.ingest
        single, multi = await _params(request)
        try:
            user = single.get("u")
            if not user:
                raise SubsonicError(10, "Required parameter is missing: u")
            if single.get("submission", "true").lower() == "false":
                return render(single)
            events = _scrobble_events(single, multi, user, datetime.now(UTC))
        except SubsonicError as exc:
            return render(single, error=exc)
        await state.publisher.publish_all(events)
        return render(single)

    return [ping, get_license, extensions, scrobble]
