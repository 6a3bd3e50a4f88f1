"""ListenBrainz-compatible statistics: ``/1/stats/user/{user}/...`` in ListenBrainz's payload shape."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get
from litestar.params import FromPath, QueryParameter

from query_api.cube import calendar, queries
from query_api.cube.extension import Cube
from query_api.cube.queries import Scope
from query_api.periods import Window
from query_api.routes.stats_params import cube_of, now

__all__ = ["lb_stats_routes"]

TAGS = ["listenbrainz"]
Count = Annotated[int, QueryParameter(ge=1, le=1000, description="How many (ListenBrainz default 25)")]
Offset = Annotated[int, QueryParameter(ge=0)]
LbRange = Annotated[str, QueryParameter(name="range", description=", ".join(calendar.LB_RANGES))]
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class LbError(msgspec.Struct, frozen=True):
    code: int
    error: str


def _ts(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value else None


async def _known_user(cube: Cube, user: str) -> bool:
    def check(cur: Any) -> bool:
        return bool(cur.execute("SELECT 1 FROM users WHERE name = ?", [user]).fetchall())

    return await cube.read(check)


async def _prelude(
    request: Request[Any, Any, Any], user: str, range_: str
) -> tuple[Cube, Window] | Response[Any]:
    cube = cube_of(request)
    window = calendar.lb_window(range_, now())
    if not await _known_user(cube, user):
        return Response(LbError(code=404, error=f"Cannot find user: {user}"), status_code=404)
    return cube, window


def _payload_base(
    user: str, range_: str, window: Window, first: datetime | None, last: datetime | None
) -> dict[str, Any]:
    return {
        "user_id": user,
        "range": range_,
        "from_ts": _ts(window.since or first),
        "to_ts": _ts(window.until or last or now()),
        "last_updated": int(now().timestamp()),
    }


def _entity_route(lb_name: str, kind: str) -> Any:
    total_key = {
        "artists": "total_artist_count",
        "releases": "total_release_count",
        "recordings": "total_recording_count",
    }[lb_name]

    @get(
        f"/1/stats/user/{{user:str}}/{lb_name}",
        tags=TAGS,
        operation_id=f"lb_stats_{lb_name}",
        summary=f"Top {lb_name} of a user (ListenBrainz-compatible); 204 when there is nothing in the range",
    )
    async def top(
        request: Request[Any, Any, Any],
        user: FromPath[str],
        count: Count = 25,
        offset: Offset = 0,
        range_: LbRange = "all_time",
    ) -> Response[Any]:
        found = await _prelude(request, user, range_)
        if isinstance(found, Response):
            return found
        cube, window = found
        items, total = await cube.read(
            queries.ranked, kind, Scope.of_window(window, user), limit=count, offset=offset
        )
        if total == 0:
            return Response(None, status_code=204)
        rows: list[dict[str, Any]] = []
        for item in items:
            if lb_name == "artists":
                rows.append({"artist_mbids": [], "artist_name": item.name, "listen_count": item.listens})
            elif lb_name == "releases":
                rows.append(
                    {
                        "artist_mbids": [],
                        "artist_name": item.artist,
                        "listen_count": item.listens,
                        "release_mbid": None,
                        "release_name": item.name,
                    }
                )
            else:
                rows.append(
                    {
                        "artist_mbids": [],
                        "artist_name": item.artist,
                        "listen_count": item.listens,
                        "recording_mbid": None,
                        "release_mbid": None,
                        "release_name": None,
                        "track_name": item.name,
                    }
                )
        payload = {
            lb_name: rows,
            "count": len(rows),
            "offset": offset,
            total_key: total,
            **_payload_base(user, range_, window, None, None),
        }
        return Response({"payload": payload})

    return top


@get(
    "/1/stats/user/{user:str}/listening-activity",
    tags=TAGS,
    summary="Listens per day/week/month/year of the range (ListenBrainz-compatible)",
)
async def listening_activity(
    request: Request[Any, Any, Any], user: FromPath[str], range_: LbRange = "all_time"
) -> Response[Any]:
    found = await _prelude(request, user, range_)
    if isinstance(found, Response):
        return found
    cube, window = found
    bucket = calendar.lb_activity_bucket(range_)
    points = await cube.read(queries.timeline, Scope.of_window(window, user), bucket)
    if not any(p.listens for p in points):
        return Response(None, status_code=204)
    activity = []
    for p in points:
        start = datetime.combine(p.start, datetime.min.time(), tzinfo=UTC)
        end = datetime.combine(calendar.next_bucket(p.start, bucket), datetime.min.time(), tzinfo=UTC)
        label = {
            "day": p.start.strftime("%A %d %B %Y"),
            "week": f"Week of {p.start.isoformat()}",
            "month": p.start.strftime("%B %Y"),
            "year": str(p.start.year),
        }[bucket]
        activity.append(
            {"from_ts": _ts(start), "to_ts": _ts(end), "time_range": label, "listen_count": p.listens}
        )
    payload = {"listening_activity": activity, **_payload_base(user, range_, window, None, None)}
    return Response({"payload": payload})


@get(
    "/1/stats/user/{user:str}/daily-activity",
    tags=TAGS,
    summary="Listens per hour of each weekday, UTC (ListenBrainz-compatible)",
)
async def daily_activity(
    request: Request[Any, Any, Any], user: FromPath[str], range_: LbRange = "all_time"
) -> Response[Any]:
    found = await _prelude(request, user, range_)
    if isinstance(found, Response):
        return found
    cube, window = found
    cells = await cube.read(queries.heatmap, Scope.of_window(window, user))
    if not any(c.listens for c in cells):
        return Response(None, status_code=204)
    days: dict[str, list[dict[str, int]]] = {day: [] for day in _DAYS}
    for c in cells:
        days[_DAYS[c.weekday]].append({"hour": c.hour, "listen_count": c.listens})
    payload = {"daily_activity": days, **_payload_base(user, range_, window, None, None)}
    return Response({"payload": payload})


def lb_stats_routes() -> list[Any]:
    return [
        _entity_route("artists", "artists"),
        _entity_route("releases", "albums"),
        _entity_route("recordings", "tracks"),
        listening_activity,
        daily_activity,
    ]
