"""Windows from request parameters, subjects, and the settings object."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from query_api.periods import resolve_window, seed_period_window
from schemas.subjects import BUCKETS, partition_filters, stream_subjects, user_bucket, user_subject
from scrobbler.errors import BadRequest
from scrobbler.settings import Settings, SettingsError

NOW = datetime(2024, 6, 15, 12, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("period", "value", "since", "until"),
    [
        ("day", "2024-03-05", datetime(2024, 3, 5, tzinfo=UTC), datetime(2024, 3, 6, tzinfo=UTC)),
        ("week", "2024-W10", datetime(2024, 3, 4, tzinfo=UTC), datetime(2024, 3, 11, tzinfo=UTC)),
        ("month", "2024-12", datetime(2024, 12, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)),
        ("year", "2023", datetime(2023, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC)),
        ("month", None, datetime(2024, 6, 1, tzinfo=UTC), datetime(2024, 7, 1, tzinfo=UTC)),
        ("all", None, None, None),
    ],
)
def test_seed_periods(period: str, value: str | None, since: datetime | None, until: datetime | None) -> None:
    w = seed_period_window(period, value, now=NOW)
    assert (w.since, w.until) == (since, until)


@pytest.mark.parametrize(("period", "value"), [("week", "2024-10"), ("month", "june"), ("fortnight", None)])
def test_bad_seed_periods_name_the_parameter(period: str, value: str | None) -> None:
    with pytest.raises(BadRequest, match=r"period|value"):
        seed_period_window(period, value, now=NOW)


def test_rolling_ranges_and_previous_window() -> None:
    w = resolve_window("week", None, None, now=NOW)
    assert w.until is not None and w.since is not None
    assert (w.until - w.since).days == 7
    prev = w.previous()
    assert prev is not None and prev.until == w.since
    assert resolve_window(None, None, None, now=NOW).since is None
    custom = resolve_window(None, "2024-01-01", "1717200000", now=NOW)
    assert custom.since == datetime(2024, 1, 1, tzinfo=UTC)
    assert custom.until == datetime(2024, 6, 1, tzinfo=UTC)
    with pytest.raises(BadRequest, match="range"):
        resolve_window("decade", None, None, now=NOW)


def test_partitions_cover_every_bucket_exactly_once() -> None:
    seen: list[str] = []
    for i in range(3):
        seen += [f for f in partition_filters("p", i, 3) if ".u." in f]
    assert len(seen) == len(set(seen)) == BUCKETS
    assert partition_filters("p", 0, 1) == stream_subjects("p")
    user = "someone"
    assert user_subject("p", user).startswith(f"p.u.{user_bucket(user):02d}.")
    with pytest.raises(ValueError, match="partition"):
        partition_filters("p", 3, 3)


def test_settings_defaults_and_errors_name_the_variable() -> None:
    s = Settings.from_env({})
    assert s.http.port == 8080
    assert s.db.dsn == f"sqlite+aiosqlite:///{Path('data') / 'scrobbler.db'}"
    assert s.db.duckdb_path == Path("data") / "cube.duckdb"
    assert s.db.cube_memory_limit == "1GB"
    assert s.nats.url is None
    assert Settings.from_env({"SCROBBLER_CUBE_MEMORY_LIMIT": "512MiB"}).db.cube_memory_limit == "512MiB"
    s = Settings.from_env({"SCROBBLER_DATA_DIR": "/srv/x", "SCROBBLER_CORS_ORIGINS": "http://a, http://b"})
    assert s.db.duckdb_path == Path("/srv/x/cube.duckdb")
    assert s.http.cors_origins == ("http://a", "http://b")
    for name, value in [
        ("SCROBBLER_PORT", "eighty"),
        ("SCROBBLER_DB_DSN", "postgres://x"),
        ("SCROBBLER_LOG_FORMAT", "xml"),
        ("SCROBBLER_NATS_SYNC", "sometimes"),
        ("SCROBBLER_ANALYZER_SCAN_JOB_TIMEOUT", "0"),
        ("SCROBBLER_CUBE_MEMORY_LIMIT", "lots"),
        ("SCROBBLER_CUBE_MEMORY_LIMIT", "1GB; DROP TABLE listens"),
    ]:
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({name: value})
