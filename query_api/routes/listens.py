"""``/api/v1/listens``: recent, count, one listen, and the paged history."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, get
from litestar.params import FromPath, FromQuery, QueryParameter

from query_api.listens import (
    ListenOut,
    ListenPage,
    count_listens,
    encode_cursor,
    get_listen,
    listens_between,
    recent_listens,
)
from query_api.periods import resolve_window, seed_period_window
from query_api.state import QueryState
from scrobbler.errors import NotFound

__all__ = ["listen_routes"]


class Count(msgspec.Struct, frozen=True):
    count: int


class SeedListenPage(msgspec.Struct, frozen=True):
    """The original product's paged answer."""

    items: list[ListenOut]
    total: int
    page: int
    page_size: int


def _state(request: Request[Any, Any, Any]) -> QueryState:
    return request.app.state.query  # type: ignore[no-any-return]


@get("/api/v1/listens/recent", tags=["listens"], summary="The latest listens, newest first")
async def recent(
    request: Request[Any, Any, Any],
    limit: Annotated[int, QueryParameter(ge=1, le=500)] = 10,
    user: FromQuery[str | None] = None,
) -> list[ListenOut]:
    async with _state(request).engine.connect() as conn:
        return await recent_listens(conn, user=user, limit=limit)


@get("/api/v1/listens/count", tags=["listens"], summary="How many listens (one user, or all)")
async def count(request: Request[Any, Any, Any], user: FromQuery[str | None] = None) -> Count:
    async with _state(request).engine.connect() as conn:
        return Count(count=await count_listens(conn, user=user))


@get(
    "/api/v1/listens/{listen_id:str}",
    tags=["listens"],
    summary="One listen with track, album, artists, genres",
)
async def one(request: Request[Any, Any, Any], listen_id: FromPath[str]) -> ListenOut:
    async with _state(request).engine.connect() as conn:
        found = await get_listen(conn, listen_id)
    if found is None:
        raise NotFound(f"listen_id: no listen {listen_id!r}")
    return found


@get(
    "/api/v1/listens",
    tags=["listens"],
    summary="Listen history: by cursor (our API) or by page (the seed's period/value/page)",
    description=(
        "Cursor mode (default): `user`, `from`/`to` or `range`, `q` (text in title/artist/album), `limit`,"
        " `cursor` (from `next_cursor`). Seed mode, when `period` or `page` is given:"
        " `period=day|week|month|all`"
        " with `value=YYYY-MM-DD|YYYY-Www|YYYY-MM`, `page`, `page_size` (up to 500), answering"
        " `{items, total, page, page_size}`."
    ),
)
async def history(
    request: Request[Any, Any, Any],
    user: FromQuery[str | None] = None,
    range_: Annotated[str | None, QueryParameter(name="range")] = None,
    from_: Annotated[str | None, QueryParameter(name="from")] = None,
    to: FromQuery[str | None] = None,
    q: FromQuery[str | None] = None,
    cursor: FromQuery[str | None] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 50,
    period: FromQuery[str | None] = None,
    value: FromQuery[str | None] = None,
    page: Annotated[int | None, QueryParameter(ge=1)] = None,
    page_size: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
) -> ListenPage | SeedListenPage:
    now = datetime.now(UTC)
    async with _state(request).engine.connect() as conn:
        if period is not None or page is not None:
            window = (
                seed_period_window(period, value, now=now)
                if period is not None
                else resolve_window(range_, from_, to, now=now)
            )
            number = page or 1
            items = await listens_between(
                conn,
                user=user,
                since=window.since,
                until=window.until,
                limit=page_size,
                offset=(number - 1) * page_size,
                text=q,
            )
            total = await count_listens(conn, user=user, since=window.since, until=window.until)
            return SeedListenPage(items=items, total=total, page=number, page_size=page_size)
        window = resolve_window(range_, from_, to, now=now)
        items = await listens_between(
            conn, user=user, since=window.since, until=window.until, limit=limit, cursor=cursor, text=q
        )
    nxt = encode_cursor(items[-1].listened_at, items[-1].listen_id) if len(items) == limit else None
    return ListenPage(items=items, next_cursor=nxt)


def listen_routes() -> list[Any]:
    return [recent, count, one, history]
