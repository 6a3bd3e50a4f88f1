"""Time windows from request parameters: our ``range``/``from``/``to`` and the seed's ``period``/``value``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from scrobbler.errors import BadRequest

__all__ = ["RANGES", "Window", "parse_instant", "resolve_window", "seed_period_window"]

RANGES = ("day", "week", "month", "quarter", "half_year", "year", "all_time")


@dataclass(frozen=True)
class Window:
    """``[since, until)`` in UTC; None on a side means unbounded. ``label`` describes it."""

    since: datetime | None
    until: datetime | None
    label: str

    def previous(self) -> Window | None:
        """The window of the same length just before this one (None for an unbounded window)."""
        if self.since is None or self.until is None:
            return None
        length = self.until - self.since
        return Window(self.since - length, self.since, f"before {self.label}")

    @property
    def days(self) -> float | None:
        if self.since is None or self.until is None:
            return None
        return (self.until - self.since).total_seconds() / 86400


def parse_instant(raw: str, name: str) -> datetime:
    """ISO 8601 date or datetime (naive means UTC), or Unix seconds."""
    raw = raw.strip()
    try:
        if raw.lstrip("-").isdigit():
            return datetime.fromtimestamp(int(raw), tz=UTC)
        if len(raw) == 10:
            return datetime.combine(date.fromisoformat(raw), datetime.min.time(), tzinfo=UTC)
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except (ValueError, OverflowError) as exc:
        raise BadRequest(f"{name}: {raw!r} is not an ISO 8601 date/time or Unix seconds") from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def resolve_window(
    range_: str | None, since: str | None, until: str | None, *, now: datetime, default: str = "all_time"
) -> Window:
    """``from``/``to`` when given, else a rolling ``range`` ending now (``week`` = the last 7 days)."""
    if since or until:
        start = parse_instant(since, "from") if since else None
        end = parse_instant(until, "to") if until else None
        if start and end and end <= start:
            raise BadRequest("to: must be after from")
        return Window(start, end, "custom")
    name = range_ or default
    lengths = {
        "day": timedelta(days=1),
        "week": timedelta(days=7),
        "month": timedelta(days=30),
        "quarter": timedelta(days=91),
        "half_year": timedelta(days=182),
        "year": timedelta(days=365),
    }
    if name == "all_time":
        return Window(None, None, "all_time")
    if name not in lengths:
        raise BadRequest(f"range: {name!r} is not one of {', '.join(RANGES)} (or give from/to)")
    end = now.replace(microsecond=0) + timedelta(seconds=1)
    return Window(end - lengths[name], end, name)


def seed_period_window(period: str | None, value: str | None, *, now: datetime) -> Window:
    """The original product's calendar periods: ``day``/``week``/``month``/``year``/``all`` with a ``value``.

    ``value`` is ``YYYY-MM-DD`` (day), ``YYYY-Www`` (ISO week), ``YYYY-MM`` (month) or ``YYYY``
    (year); without one, the current period.
    """
    period = (period or "all").lower()
    try:
        if period == "all":
            return Window(None, None, "all")
        if period == "day":
            day = date.fromisoformat(value) if value else now.date()
            start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
            return Window(start, start + timedelta(days=1), day.isoformat())
        if period == "week":
            if value:
                year_s, week_s = value.upper().split("-W")
                monday = date.fromisocalendar(int(year_s), int(week_s), 1)
            else:
                monday = now.date() - timedelta(days=now.weekday())
            start = datetime.combine(monday, datetime.min.time(), tzinfo=UTC)
            iso = monday.isocalendar()
            return Window(start, start + timedelta(days=7), f"{iso.year}-W{iso.week:02d}")
        if period == "month":
            year, month = (int(p) for p in value.split("-")[:2]) if value else (now.year, now.month)
            start = datetime(year, month, 1, tzinfo=UTC)
            end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
            return Window(start, end, f"{year}-{month:02d}")
        if period == "year":
            year = int(value.split("-")[0]) if value else now.year
            return Window(datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC), str(year))
    except ValueError as exc:
        raise BadRequest(f"value: {value!r} does not fit period={period}") from exc
    raise BadRequest(f"period: {period!r} is not one of day, week, month, year, all")
