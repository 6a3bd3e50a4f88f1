"""ListenBrainz-compatible reads: a user's listens, their count, what is playing now.

Shapes as ListenBrainz answers them, so multi-scrobbler and other LB clients can read back what
they wrote (it checks recent listens to avoid duplicates). ``recording_msid`` is our listen id.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, Router, get
from litestar.params import FromPath, QueryParameter
from sqlalchemy import func, select

from ingest.listenbrainz.http import RateLimitMiddleware, lb_exception_handlers
from ingest.now_playing import NowPlaying
from projector.tables import listens
from query_api.listens import ListenOut, count_listens, listens_between
from query_api.state import QueryState
from scrobbler.errors import BadRequest

__all__ = ["listenbrainz_read_router", "to_lb_listen"]


class ListensPayload(msgspec.Struct, frozen=True):
    user_id: str
    count: int
    latest_listen_ts: int
    oldest_listen_ts: int
    listens: list[dict[str, Any]]


class ListensAnswer(msgspec.Struct, frozen=True):
    payload: ListensPayload


class CountPayload(msgspec.Struct, frozen=True):
    count: int


class CountAnswer(msgspec.Struct, frozen=True):
    payload: CountPayload


class PlayingNowPayload(msgspec.Struct, frozen=True):
    count: int
    user_id: str
    playing_now: bool
    listens: list[dict[str, Any]]


class PlayingNowAnswer(msgspec.Struct, frozen=True):
    payload: PlayingNowPayload


def _state(request: Request[Any, Any, Any]) -> QueryState:
    return request.app.state.query  # type: ignore[no-any-return]


def _ts(value: datetime) -> int:
    return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp())


def to_lb_listen(listen: ListenOut) -> dict[str, Any]:
    """One listen in ListenBrainz's shape; ``additional_info`` keeps what the client sent."""
    info: dict[str, Any] = dict(listen.extra or {})
    primary = [a.name for a in listen.artists if a.role == "primary"] or [a.name for a in listen.artists]
    if len(listen.artists) > 1:
        info.setdefault("artist_names", [a.name for a in listen.artists])
    track = listen.track
    for key, value in (
        ("recording_mbid", listen.recording_mbid),
        ("release_mbid", listen.release_mbid),
        ("isrc", track.isrc),
        ("tracknumber", track.track_no),
        ("discnumber", track.disc_no),
        ("duration_ms", track.duration_secs * 1000 if track.duration_secs else None),
        ("release_artist_name", track.album_artist),
        ("submission_client", listen.client),
    ):
        if value is not None and key not in info and not (key == "duration_ms" and "duration" in info):
            info[key] = value
    if listen.genres:
        info.setdefault("tags", listen.genres)
    if listen.unresolved:
        info["media_id"] = listen.source_track_id
        info["unresolved"] = True
    info["recording_msid"] = listen.listen_id
    metadata: dict[str, Any] = {
        "artist_name": primary[0] if primary else "",
        "track_name": track.title,
        "additional_info": info,
    }
    if track.album:
        metadata["release_name"] = track.album
    return {
        "listened_at": _ts(listen.listened_at),
        "inserted_at": _ts(listen.received_at),
        "recording_msid": listen.listen_id,
        "user_name": listen.user,
        "track_metadata": metadata,
    }


@get("/user/{user:str}/listens", summary="A user's listens, newest first (ListenBrainz shape)")
async def user_listens(
    request: Request[Any, Any, Any],
    user: FromPath[str],
    min_ts: Annotated[int | None, QueryParameter(ge=0)] = None,
    max_ts: Annotated[int | None, QueryParameter(ge=0)] = None,
    count: Annotated[int, QueryParameter(ge=1, le=1000)] = 25,
) -> ListensAnswer:
    if min_ts is not None and max_ts is not None and max_ts <= min_ts:
        raise BadRequest("max_ts should be greater than min_ts")
    since = datetime.fromtimestamp(min_ts + 1, tz=UTC) if min_ts is not None else None
    until = datetime.fromtimestamp(max_ts, tz=UTC) if max_ts is not None else None
    async with _state(request).engine.connect() as conn:
        if since is not None and until is None:
            # Only min_ts: the `count` listens right after it (ListenBrainz pages forward this way).
            window = (
                select(listens.c.listened_at)
                .where(listens.c.user_name == user, listens.c.listened_at >= since.replace(tzinfo=None))
                .order_by(listens.c.listened_at)
                .limit(count)
                .subquery()
            )
            edge = (await conn.execute(select(func.max(window.c.listened_at)))).scalar_one_or_none()
            if edge is not None:
                until = datetime.fromtimestamp(_ts(edge) + 1, tz=UTC)
        items = await listens_between(conn, user=user, since=since, until=until, limit=count)
        newest, oldest = (
            await conn.execute(
                select(func.max(listens.c.listened_at), func.min(listens.c.listened_at)).where(
                    listens.c.user_name == user
                )
            )
        ).one()
    return ListensAnswer(
        payload=ListensPayload(
            user_id=user,
            count=len(items),
            latest_listen_ts=_ts(newest) if newest else 0,
            oldest_listen_ts=_ts(oldest) if oldest else 0,
            listens=[to_lb_listen(i) for i in items],
        )
    )


@get("/user/{user:str}/listen-count", summary="How many listens a user has")
async def listen_count(request: Request[Any, Any, Any], user: FromPath[str]) -> CountAnswer:
    async with _state(request).engine.connect() as conn:
        return CountAnswer(payload=CountPayload(count=await count_listens(conn, user=user)))


@get("/user/{user:str}/playing-now", summary="What a user is playing now (ListenBrainz shape)")
async def playing_now(request: Request[Any, Any, Any], user: FromPath[str]) -> PlayingNowAnswer:
    state = _state(request)
    store = state.extras.get("now_playing")
    if not isinstance(store, NowPlaying):
        store = NowPlaying(state.stream, state.settings.nats.subject_prefix)
        state.extras["now_playing"] = store
    entry = await store.get(user, datetime.now(UTC))
    found: list[dict[str, Any]] = []
    if entry is not None:
        info: dict[str, Any] = dict(entry.extra or {})
        if entry.duration_secs:
            info.setdefault("duration_ms", entry.duration_secs * 1000)
        if entry.client:
            info.setdefault("submission_client", entry.client)
        if entry.media_id:
            info.setdefault("media_id", entry.media_id)
        metadata: dict[str, Any] = {
            "artist_name": entry.artist,
            "track_name": entry.title,
            "additional_info": info,
        }
        if entry.album:
            metadata["release_name"] = entry.album
        found.append({"playing_now": True, "user_name": user, "track_metadata": metadata})
    return PlayingNowAnswer(
        payload=PlayingNowPayload(count=len(found), user_id=user, playing_now=True, listens=found)
    )


def listenbrainz_read_router() -> Router:
    """The query side of the ListenBrainz API under ``/1`` (``/1/stats`` lives with the statistics)."""
    return Router(
        path="/1",
        route_handlers=[user_listens, listen_count, playing_now],
        tags=["listenbrainz"],
        exception_handlers=lb_exception_handlers,
        middleware=[RateLimitMiddleware],
    )
