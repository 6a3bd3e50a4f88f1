"""``/api/v1/stats``: one artist/album/track/genre, year in review, reports, and the seed's extras."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from litestar import Request, get
from litestar.params import FromPath, QueryParameter
from litestar.types import AnyCallable

from query_api.cube import queries
from query_api.cube.extension import Cube
from query_api.cube.models import Detail, Ranked, Report, TimeOfDay, TopArtistByGenre, YearInReview
from query_api.cube.queries import Scope
from query_api.periods import Window, seed_period_window
from query_api.routes.stats import TAGS, kpi_values, streak_values
from query_api.routes.stats_params import From, Limit, Range, To, User, cube_of, now, pick_window, window_out
from schemas.identity import stable_id
from scrobbler.errors import BadRequest, NotFound

__all__ = ["detail_routes"]

_SUBLISTS = {
    "artists": ("tracks", "albums"),
    "albums": ("tracks", "artists"),
    "tracks": ("albums", "artists"),
    "genres": ("tracks", "albums", "artists"),
}


async def _detail(
    cube: Cube, kind: str, entity_id: int, window: Window, user: str | None, limit: int, bucket: str
) -> Detail:
    scope = Scope.of_window(window, user)
    found = await cube.read(queries.entity_summary, kind, entity_id, scope)
    if found is None:
        raise NotFound(f"id: no {kind[:-1]} {entity_id}")
    name, artist, first, last, listens, secs = found
    of = Scope(
        user=user, since=window.since, until=window.until, of=(kind, queries.ENTITY[kind].key, entity_id)
    )
    tops: dict[str, list[Ranked]] = {"tracks": [], "albums": [], "artists": []}
    for sub in _SUBLISTS[kind]:
        tops[sub], _ = await cube.read(queries.ranked, sub, of, limit=limit)
    points = await cube.read(queries.timeline, of, bucket, kind)
    return Detail(
        id=str(entity_id),
        name=name,
        artist=artist,
        first_listen=first,
        last_listen=last,
        listens=listens,
        listening_secs=secs,
        top_tracks=tops["tracks"],
        top_albums=tops["albums"],
        top_artists=tops["artists"],
        timeline=points,
    )


def _parse_id(raw: str) -> int:
    try:
        return int(raw)
    except ValueError as exc:
        raise BadRequest(f"id: {raw!r} is not a catalogue id (a 64-bit integer)") from exc


Bucket = Annotated[Literal["day", "week", "month", "year"], QueryParameter(description="Timeline bucket")]


def _detail_route(kind: str) -> AnyCallable:
    @get(
        f"/api/v1/stats/{kind}/{{entity:str}}",
        tags=TAGS,
        operation_id=f"stats_{kind[:-1]}_detail",
        summary=f"One {kind[:-1]}: totals, first/last listen, top lists and timeline"
        + (" (by name or id)" if kind == "genres" else ""),
    )
    async def detail(
        request: Request[Any, Any, Any],
        entity: FromPath[str],
        user: User = None,
        range_: Range = None,
        from_: From = None,
        to: To = None,
        limit: Limit = 10,
        bucket: Bucket = "month",
    ) -> Detail:
        cube = cube_of(request)
        window = pick_window(range_, from_, to)
        if kind == "genres":
            by_name = stable_id("genre", entity)
            named = await cube.read(queries.entity_summary, kind, by_name, Scope(user="\x00"))
            entity_id = by_name if named is not None or not entity.lstrip("-").isdigit() else int(entity)
        else:
            entity_id = _parse_id(entity)
        return await _detail(cube, kind, entity_id, window, user, limit, bucket)

    return detail


async def _tops(
    request: Request[Any, Any, Any], window: Window, user: str | None, limit: int
) -> dict[str, list[Ranked]]:
    cube = cube_of(request)
    scope = Scope.of_window(window, user)
    out: dict[str, list[Ranked]] = {}
    for kind in ("artists", "albums", "tracks", "genres"):
        out[kind], _ = await cube.read(queries.ranked, kind, scope, limit=limit)
    return out


@get(
    "/api/v1/stats/year-in-review",
    tags=TAGS,
    summary="A year: KPIs, tops, months, heatmap, streaks, discoveries",
)
async def year_in_review(
    request: Request[Any, Any, Any],
    year: Annotated[int | None, QueryParameter(ge=1970, le=9999)] = None,
    user: User = None,
    limit: Limit = 10,
) -> YearInReview:
    number = year or now().year
    window = Window(datetime(number, 1, 1, tzinfo=UTC), datetime(number + 1, 1, 1, tzinfo=UTC), str(number))
    cube = cube_of(request)
    scope = Scope.of_window(window, user)
    tops = await _tops(request, window, user, limit)
    return YearInReview(
        year=number,
        kpis=await kpi_values(request, window, user),
        top_artists=tops["artists"],
        top_albums=tops["albums"],
        top_tracks=tops["tracks"],
        top_genres=tops["genres"],
        timeline=await cube.read(queries.timeline, scope, "month"),
        heatmap=await cube.read(queries.heatmap, scope),
        streaks=await streak_values(request, window, user),
        discoveries=await cube.read(queries.discoveries, "artists", scope, limit),
    )


@get("/api/v1/stats/reports", tags=TAGS, summary="Weekly or monthly report: KPIs vs the period before, tops")
async def report(
    request: Request[Any, Any, Any],
    period: Annotated[Literal["week", "month"], QueryParameter()] = "week",
    value: Annotated[
        str | None, QueryParameter(description="YYYY-Www or YYYY-MM; the current one when absent")
    ] = None,
    user: User = None,
    limit: Limit = 10,
) -> Report:
    window = seed_period_window(period, value, now=now())
    tops = await _tops(request, window, user, limit)
    return Report(
        window=window_out(window),
        kpis=await kpi_values(request, window, user),
        top_artists=tops["artists"],
        top_albums=tops["albums"],
        top_tracks=tops["tracks"],
        top_genres=tops["genres"],
    )


def _year_window(year: int | None) -> Window:
    if year is None:
        return Window(None, None, "all")
    return seed_period_window("year", str(year), now=now())


@get("/api/v1/stats/top-artist-by-genre", tags=TAGS, summary="The most played artist of each genre (seed)")
async def top_artist_by_genre(
    request: Request[Any, Any, Any],
    year: Annotated[int | None, QueryParameter(ge=1970, le=9999)] = None,
    user: User = None,
) -> TopArtistByGenre:
    scope = Scope.of_window(_year_window(year), user)
    return TopArtistByGenre(items=await cube_of(request).read(queries.top_artist_by_genre, scope))


@get(
    "/api/v1/stats/time-of-day",
    tags=TAGS,
    summary="Top tracks in a part of the day (seed): night 0-6, morning 6-12, afternoon 12-18, evening 18-24 UTC",
)
async def time_of_day(
    request: Request[Any, Any, Any],
    period: Annotated[Literal["morning", "afternoon", "evening", "night"], QueryParameter()] = "morning",
    year: Annotated[int | None, QueryParameter(ge=1970, le=9999)] = None,
    user: User = None,
    limit: Limit = 10,
) -> TimeOfDay:
    scope = Scope.of_window(_year_window(year), user)
    return TimeOfDay(items=await cube_of(request).read(queries.time_of_day, scope, period, limit))


def detail_routes() -> list[Any]:
    return [
        *(_detail_route(kind) for kind in ("artists", "albums", "tracks", "genres")),
        year_in_review,
        report,
        top_artist_by_genre,
        time_of_day,
    ]
