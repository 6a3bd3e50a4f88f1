"""``/api/v1/stats/*``: top lists, KPIs, timeline, heatmap, streaks, discoveries, hype."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Request, get
from litestar.params import FromQuery, QueryParameter
from litestar.types import AnyCallable

from query_api.cube import calendar, queries
from query_api.cube.models import (
    Discoveries,
    Heatmap,
    Hype,
    Kpis,
    RankedPage,
    StreakOut,
    Streaks,
    Timeline,
)
from query_api.cube.queries import Scope
from query_api.routes.stats_params import (
    By,
    From,
    Limit,
    Period,
    Range,
    To,
    User,
    Value,
    cube_of,
    now,
    pick_window,
    valid_tz,
    window_out,
)
from scrobbler.errors import BadRequest

__all__ = ["stats_routes"]

TAGS = ["stats"]


def _ranked_route(kind: str) -> AnyCallable:
    @get(
        f"/api/v1/stats/{kind}",
        tags=TAGS,
        operation_id=f"stats_top_{kind}",
        summary=f"Top {kind} by listens or listening time",
        description=(
            "Our parameters: `user`, `range` or `from`/`to`, `limit`, `by`, `q` (name contains, any case)."
            " Seed parameters on the same endpoint: `period`/`value`, `page`, `page_size`."
            + (" Every credited artist of a listen counts (all roles)." if kind == "artists" else "")
        ),
    )
    async def top(
        request: Request[Any, Any, Any],
        user: User = None,
        range_: Range = None,
        from_: From = None,
        to: To = None,
        limit: Limit = 10,
        by: By = "plays",
        q: FromQuery[str | None] = None,
        period: Period = None,
        value: Value = None,
        page: Annotated[int, QueryParameter(ge=1)] = 1,
        page_size: Annotated[int | None, QueryParameter(ge=1, le=500)] = None,
    ) -> RankedPage:
        window = pick_window(range_, from_, to, period, value)
        size = page_size or limit
        items, total = await cube_of(request).read(
            queries.ranked,
            kind,
            Scope.of_window(window, user),
            by=by,
            limit=size,
            offset=(page - 1) * size,
            q=q,
        )
        return RankedPage(
            items=items, total=total, page=page, page_size=size, window=window_out(window), by=by
        )

    return top


async def kpi_values(request: Request[Any, Any, Any], window: Any, user: str | None) -> Kpis:
    cube = cube_of(request)
    current = await cube.read(queries.kpis, Scope.of_window(window, user))
    before = window.previous()
    previous = await cube.read(queries.kpis, Scope.of_window(before, user)) if before else None
    return Kpis(window=window_out(window), current=current, previous=previous)


@get(
    "/api/v1/stats/kpis",
    tags=TAGS,
    summary="Listens, time, distinct artists/albums/tracks/genres vs the previous period",
)
async def kpis(
    request: Request[Any, Any, Any],
    user: User = None,
    range_: Range = None,
    from_: From = None,
    to: To = None,
    period: Period = None,
    value: Value = None,
) -> Kpis:
    return await kpi_values(request, pick_window(range_, from_, to, period, value), user)


@get(
    "/api/v1/stats/timeline", tags=TAGS, summary="Listens and listening time per day/week/month/year, no gaps"
)
async def timeline(
    request: Request[Any, Any, Any],
    user: User = None,
    range_: Range = None,
    from_: From = None,
    to: To = None,
    period: Period = None,
    value: Value = None,
    bucket: Annotated[Literal["day", "week", "month", "year"], QueryParameter()] = "day",
) -> Timeline:
    window = pick_window(range_, from_, to, period, value)
    points = await cube_of(request).read(queries.timeline, Scope.of_window(window, user), bucket)
    return Timeline(window=window_out(window), bucket=bucket, points=points)


@get("/api/v1/stats/heatmap", tags=TAGS, summary="Listens per weekday (0=Monday) and hour, all 168 cells")
async def heatmap(
    request: Request[Any, Any, Any],
    user: User = None,
    range_: Range = None,
    from_: From = None,
    to: To = None,
    period: Period = None,
    value: Value = None,
    tz: Annotated[str | None, QueryParameter(description="IANA zone to count hours in (default UTC)")] = None,
) -> Heatmap:
    window = pick_window(range_, from_, to, period, value)
    cells = await cube_of(request).read(queries.heatmap, Scope.of_window(window, user), valid_tz(tz))
    return Heatmap(window=window_out(window), cells=cells)


async def streak_values(request: Request[Any, Any, Any], window: Any, user: str | None) -> Streaks:
    days = await cube_of(request).read(queries.active_days, Scope.of_window(window, user))
    longest, current = calendar.streaks(days, now().date())

    def out(s: calendar.Streak | None) -> StreakOut | None:
        return StreakOut(start=s.start, end=s.end, days=s.days) if s else None

    return Streaks(longest=out(longest), current=out(current))


@get(
    "/api/v1/stats/streaks",
    tags=TAGS,
    summary="Longest and current run of days with at least one listen (UTC)",
)
async def streaks(
    request: Request[Any, Any, Any],
    user: User = None,
    range_: Range = None,
    from_: From = None,
    to: To = None,
) -> Streaks:
    return await streak_values(request, pick_window(range_, from_, to), user)


@get("/api/v1/stats/discoveries", tags=TAGS, summary="Artists or tracks first ever heard inside the window")
async def discoveries(
    request: Request[Any, Any, Any],
    user: User = None,
    range_: Range = None,
    from_: From = None,
    to: To = None,
    period: Period = None,
    value: Value = None,
    kind: Annotated[Literal["artists", "tracks"], QueryParameter()] = "artists",
    limit: Limit = 10,
) -> Discoveries:
    window = pick_window(range_, from_, to, period, value)
    items = await cube_of(request).read(queries.discoveries, kind, Scope.of_window(window, user), limit)
    return Discoveries(window=window_out(window), items=items)


@get(
    "/api/v1/stats/hype",
    tags=TAGS,
    summary="What rose most against the previous period",
    description="The window defaults to `range=month`; it must be bounded (the previous period has the same length).",
)
async def hype(
    request: Request[Any, Any, Any],
    user: User = None,
    range_: Range = None,
    from_: From = None,
    to: To = None,
    period: Period = None,
    value: Value = None,
    kind: Annotated[Literal["artists", "albums", "tracks"], QueryParameter()] = "artists",
    limit: Limit = 10,
) -> Hype:
    window = pick_window(range_, from_, to, period, value, default="month")
    before = window.previous()
    if before is None:
        raise BadRequest(
            "range: hype needs a bounded window (a range other than all_time, or both from and to)"
        )
    items = await cube_of(request).read(
        queries.hype, kind, Scope.of_window(window, user), Scope.of_window(before, user), limit
    )
    return Hype(window=window_out(window), items=items)


def stats_routes() -> list[Any]:
    """Top lists, KPIs and the time-based stats."""
    return [
        *(_ranked_route(kind) for kind in ("artists", "albums", "tracks", "genres")),
        kpis,
        timeline,
        heatmap,
        streaks,
        discoveries,
        hype,
    ]
