"""Query parameters shared by the stats endpoints, and turning them into a window and a scope."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from litestar import Request
from litestar.params import QueryParameter

from query_api.cube.extension import Cube, get_cube
from query_api.cube.models import WindowOut
from query_api.periods import Window, resolve_window, seed_period_window
from scrobbler.errors import BadRequest

__all__ = [
    "By",
    "From",
    "Limit",
    "Period",
    "Range",
    "To",
    "User",
    "Value",
    "cube_of",
    "pick_window",
    "valid_tz",
    "window_out",
]

User = Annotated[str | None, QueryParameter(description="One user's listens; every user's when absent")]
Range = Annotated[
    str | None,
    QueryParameter(
        name="range", description="day|week|month|quarter|half_year|year|all_time, rolling, ending now"
    ),
]
From = Annotated[str | None, QueryParameter(name="from", description="ISO date/datetime or Unix seconds")]
To = Annotated[str | None, QueryParameter(description="ISO date/datetime or Unix seconds (exclusive)")]
Limit = Annotated[int, QueryParameter(ge=1, le=500, description="How many items")]
By = Annotated[
    Literal["plays", "time"], QueryParameter(description="Rank by listen count or by listening seconds")
]
Period = Annotated[str | None, QueryParameter(description="Seed calendar period: day|week|month|year|all")]
Value = Annotated[
    str | None, QueryParameter(description="Seed period value: YYYY, YYYY-MM, YYYY-Www or YYYY-MM-DD")
]


def cube_of(request: Request[Any, Any, Any]) -> Cube:
    return get_cube(request.app.state.query)


def now() -> datetime:
    return datetime.now(UTC)


def pick_window(
    range_: str | None,
    from_: str | None,
    to: str | None,
    period: str | None = None,
    value: str | None = None,
    *,
    default: str = "all_time",
) -> Window:
    """The seed's ``period``/``value`` when given, else ``from``/``to``, else the rolling ``range``."""
    if period is not None or value is not None:
        return seed_period_window(period, value, now=now())
    return resolve_window(range_, from_, to, now=now(), default=default)


def window_out(window: Window) -> WindowOut:
    return WindowOut(since=window.since, until=window.until, label=window.label)


def valid_tz(tz: str | None) -> str | None:
    if tz is None:
        return None
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise BadRequest(f"tz: {tz!r} is not an IANA time zone name") from exc
    return tz
