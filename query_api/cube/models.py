"""Answer bodies of the stats endpoints (msgspec Structs, so OpenAPI documents them)."""

from __future__ import annotations

from datetime import date, datetime

import msgspec

__all__ = [
    "Detail",
    "Discoveries",
    "Discovery",
    "GenreTopArtist",
    "HeatCell",
    "Heatmap",
    "Hype",
    "HypeItem",
    "KpiValues",
    "Kpis",
    "Point",
    "Ranked",
    "RankedPage",
    "Report",
    "StreakOut",
    "Streaks",
    "TimeOfDay",
    "TimeOfDayItem",
    "Timeline",
    "TopArtistByGenre",
    "WindowOut",
    "YearInReview",
]


class WindowOut(msgspec.Struct, frozen=True):
    since: datetime | None
    until: datetime | None
    label: str


class Ranked(msgspec.Struct, frozen=True):
    rank: int
    id: str
    """The 64-bit catalogue id as a string (as /api/v1/listens returns it)."""
    name: str
    artist: str | None
    """Display artist (albums and tracks)."""
    listens: int
    listening_secs: int


class RankedPage(msgspec.Struct, frozen=True):
    items: list[Ranked]
    total: int
    """Distinct entities in the window (after ``q``)."""
    page: int
    page_size: int
    window: WindowOut
    by: str


class KpiValues(msgspec.Struct, frozen=True):
    listens: int
    listening_secs: int
    artists: int
    albums: int
    tracks: int
    genres: int
    active_days: int
    avg_listens_per_day: float


class Kpis(msgspec.Struct, frozen=True):
    window: WindowOut
    current: KpiValues
    previous: KpiValues | None


class Point(msgspec.Struct, frozen=True):
    start: date
    listens: int
    listening_secs: int


class Timeline(msgspec.Struct, frozen=True):
    window: WindowOut
    bucket: str
    points: list[Point]


class HeatCell(msgspec.Struct, frozen=True):
    weekday: int
    """0 = Monday .. 6 = Sunday"""
    hour: int
    listens: int


class Heatmap(msgspec.Struct, frozen=True):
    window: WindowOut
    cells: list[HeatCell]


class StreakOut(msgspec.Struct, frozen=True):
    start: date
    end: date
    days: int


class Streaks(msgspec.Struct, frozen=True):
    longest: StreakOut | None
    current: StreakOut | None


class Discovery(msgspec.Struct, frozen=True):
    id: str
    name: str
    artist: str | None
    first_listen: datetime
    listens: int


class Discoveries(msgspec.Struct, frozen=True):
    window: WindowOut
    items: list[Discovery]


class HypeItem(msgspec.Struct, frozen=True):
    id: str
    name: str
    artist: str | None
    listens: int
    previous_listens: int
    change: int


class Hype(msgspec.Struct, frozen=True):
    window: WindowOut
    items: list[HypeItem]


class Detail(msgspec.Struct, frozen=True):
    id: str
    name: str
    artist: str | None
    first_listen: datetime | None
    last_listen: datetime | None
    listens: int
    listening_secs: int
    top_tracks: list[Ranked]
    top_albums: list[Ranked]
    top_artists: list[Ranked]
    timeline: list[Point]


class Report(msgspec.Struct, frozen=True):
    window: WindowOut
    kpis: Kpis
    top_artists: list[Ranked]
    top_albums: list[Ranked]
    top_tracks: list[Ranked]
    top_genres: list[Ranked]


class YearInReview(msgspec.Struct, frozen=True):
    year: int
    kpis: Kpis
    top_artists: list[Ranked]
    top_albums: list[Ranked]
    top_tracks: list[Ranked]
    top_genres: list[Ranked]
    timeline: list[Point]
    heatmap: list[HeatCell]
    streaks: Streaks
    discoveries: list[Discovery]


class GenreTopArtist(msgspec.Struct, frozen=True):
    genre: str
    artist: str
    artist_id: str
    listens: int


class TopArtistByGenre(msgspec.Struct, frozen=True):
    items: list[GenreTopArtist]


class TimeOfDayItem(msgspec.Struct, frozen=True):
    track: str
    artist: str
    listens: int


class TimeOfDay(msgspec.Struct, frozen=True):
    items: list[TimeOfDayItem]
