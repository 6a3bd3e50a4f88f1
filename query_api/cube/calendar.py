"""Pure calendar arithmetic for the stats: buckets without gaps, streaks, ListenBrainz ranges."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from query_api.periods import Window
from scrobbler.errors import BadRequest

__all__ = [
    "BUCKETS",
    "LB_RANGES",
    "Streak",
    "bucket_start",
    "bucket_starts",
    "lb_window",
    "next_bucket",
    "streaks",
]

BUCKETS = ("day", "week", "month", "year")
LB_RANGES = (
    "this_week",
    "this_month",
    "this_year",
    "week",
    "month",
    "quarter",
    "half_yearly",
    "year",
    "all_time",
)
MAX_POINTS = 50_000


def bucket_start(day: date, bucket: str) -> date:
    """The first day of the bucket holding ``day`` (weeks start on Monday)."""
    if bucket == "day":
        return day
    if bucket == "week":
        return day - timedelta(days=day.weekday())
    if bucket == "month":
        return day.replace(day=1)
    return day.replace(month=1, day=1)


def next_bucket(start: date, bucket: str) -> date:
    if bucket == "day":
        return start + timedelta(days=1)
    if bucket == "week":
        return start + timedelta(days=7)
    if bucket == "month":
        return date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    return date(start.year + 1, 1, 1)


def bucket_starts(first: date, last: date, bucket: str) -> list[date]:
    """Every bucket start from the bucket of ``first`` to the bucket of ``last``, inclusive."""
    out: list[date] = []
    current, end = bucket_start(first, bucket), bucket_start(last, bucket)
    while current <= end:
        out.append(current)
        if len(out) > MAX_POINTS:
            raise BadRequest(f"bucket: more than {MAX_POINTS} {bucket}s in the window; use a larger bucket")
        current = next_bucket(current, bucket)
    return out


@dataclass(frozen=True)
class Streak:
    start: date
    end: date
    days: int


def streaks(days: Iterable[date], today: date) -> tuple[Streak | None, Streak | None]:
    """(longest, current) runs of consecutive days; current is the run that ends today or yesterday.

    The earliest run wins a tie for longest.
    """
    runs: list[Streak] = []
    start = prev = None
    for day in sorted(set(days)):
        if prev is not None and day == prev + timedelta(days=1):
            prev = day
            continue
        if start is not None and prev is not None:
            runs.append(Streak(start, prev, (prev - start).days + 1))
        start = prev = day
    if start is not None and prev is not None:
        runs.append(Streak(start, prev, (prev - start).days + 1))
    if not runs:
        return None, None
    longest = max(runs, key=lambda r: (r.days, -r.start.toordinal()))
    last = runs[-1]
    current = last if last.end >= today - timedelta(days=1) else None
    return longest, current


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


def lb_window(name: str, now: datetime) -> Window:
    """ListenBrainz's stats ranges: ``this_*`` run up to now, the others are the last complete period."""
    today = now.astimezone(UTC).date()
    if name == "all_time":
        return Window(None, None, name)
    if name == "this_week":
        return Window(_midnight(today - timedelta(days=today.weekday())), None, name)
    if name == "this_month":
        return Window(_midnight(today.replace(day=1)), None, name)
    if name == "this_year":
        return Window(_midnight(today.replace(month=1, day=1)), None, name)
    if name == "week":
        end = today - timedelta(days=today.weekday())
        return Window(_midnight(end - timedelta(days=7)), _midnight(end), name)
    if name == "month":
        end = today.replace(day=1)
        return Window(_midnight((end - timedelta(days=1)).replace(day=1)), _midnight(end), name)
    if name == "quarter":
        end = date(today.year, (today.month - 1) // 3 * 3 + 1, 1)
        start = date(end.year - (end.month == 1), (end.month - 4) % 12 + 1, 1)
        return Window(_midnight(start), _midnight(end), name)
    if name == "half_yearly":
        end = date(today.year, 1 if today.month <= 6 else 7, 1)
        start = date(end.year - (end.month == 1), 7 if end.month == 1 else 1, 1)
        return Window(_midnight(start), _midnight(end), name)
    if name == "year":
        return Window(_midnight(date(today.year - 1, 1, 1)), _midnight(date(today.year, 1, 1)), name)
    raise BadRequest(f"range: {name!r} is not one of {', '.join(LB_RANGES)}")


def lb_activity_bucket(name: str) -> str:
    """The bucket ListenBrainz's listening-activity uses for a range."""
    if name in ("week", "this_week", "month", "this_month"):
        return "day"
    if name in ("quarter", "half_yearly"):
        return "week"
    if name in ("year", "this_year"):
        return "month"
    return "year"


def fill(rows: Sequence[tuple[date, int, int]], starts: Sequence[date]) -> list[tuple[date, int, int]]:
    """``rows`` (bucket start, listens, seconds) with a zero row for every missing start."""
    found = {start: (n, secs) for start, n, secs in rows}
    return [(s, *found.get(s, (0, 0))) for s in starts]
