"""The benchmark's listen generator: deterministic, unique ids, realistic distributions."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from bench.generate import (
    END,
    YEARS,
    build_catalogue,
    generate,
    iter_events,
    lb_payload,
    parse_size,
    seed_bodies,
)
from schemas.events import encode_event
from schemas.scrobble import ScrobbleIn

N = 20_000


@pytest.fixture(scope="module")
def catalogue():  # type: ignore[no-untyped-def]
    return build_catalogue(7, n_artists=5_000, n_tracks=50_000)


def test_same_seed_same_listens_byte_for_byte(catalogue) -> None:  # type: ignore[no-untyped-def]
    a = generate(N, 7, catalogue)
    b = generate(N, 7, build_catalogue(7, n_artists=5_000, n_tracks=50_000))
    assert np.array_equal(a.ts, b.ts) and np.array_equal(a.user, b.user) and np.array_equal(a.track, b.track)
    first = [encode_event(e) for e in iter_events(catalogue, a, 0, 50)]
    again = [encode_event(e) for e in iter_events(catalogue, b, 0, 50)]
    assert first == again
    other = generate(N, 8, catalogue)
    assert not np.array_equal(a.track, other.track)


def test_every_listen_id_is_unique_and_times_are_sorted(catalogue) -> None:  # type: ignore[no-untyped-def]
    cols = generate(N, 7, catalogue)
    ids = [e.event_id for e in iter_events(catalogue, cols)]
    assert len(set(ids)) == N
    assert np.all(np.diff(cols.ts) >= 0)
    assert len(set(zip(cols.user.tolist(), cols.ts.tolist(), strict=True))) == N


def test_ten_years_of_time_with_daily_and_weekly_rhythm(catalogue) -> None:  # type: ignore[no-untyped-def]
    cols = generate(N, 7, catalogue)
    end = int(END.timestamp())
    assert cols.ts.min() >= end - YEARS * 365 * 86400 and cols.ts.max() < end + 3600
    hours = np.bincount((cols.ts // 3600) % 24, minlength=24)
    assert hours[19] > 5 * hours[4]  # evenings are busy, 4 am is quiet
    weekday = np.bincount(((cols.ts // 86400) + 3) % 7, minlength=7)  # 1970-01-01 was a Thursday
    assert weekday[5] > 1.1 * weekday[1]  # Saturday over Tuesday


def test_artists_and_users_follow_a_long_tail(catalogue) -> None:  # type: ignore[no-untyped-def]
    cols = generate(N, 7, catalogue)
    plays = np.sort(np.bincount(catalogue.track_artist[cols.track]))[::-1]
    top_share = plays[:50].sum() / N
    assert 0.15 < top_share < 0.9
    assert (plays > 0).sum() > 500  # a long tail of artists heard at all
    users = np.bincount(cols.user, minlength=100)
    assert (users > 0).sum() == 100 and users.max() > 3 * np.median(users)


def test_multi_artist_credits_with_roles_and_genres(catalogue) -> None:  # type: ignore[no-untyped-def]
    cols = generate(2_000, 7, catalogue)
    events = list(iter_events(catalogue, cols))
    multi = [e for e in events if len(e.artists) > 1]
    assert 0.1 < len(multi) / len(events) < 0.35
    assert {a.role for e in multi for a in e.artists[1:]} <= {"featured", "remixer", "producer", "composer"}
    assert all(e.artists[0].role == "primary" for e in events)
    assert all(1 <= len(e.genres) <= 2 for e in events)
    assert all(
        e.listened_at.tzinfo is UTC and e.listened_at < datetime(2025, 1, 2, tzinfo=UTC) for e in events
    )


def test_bodies_are_valid_seed_scrobbles_and_lb_payloads(catalogue) -> None:  # type: ignore[no-untyped-def]
    import msgspec

    cols = generate(200, 7, catalogue)
    bodies = list(seed_bodies(catalogue, cols))
    decoded = msgspec.json.decode(msgspec.json.encode(bodies), type=list[ScrobbleIn])
    assert len(decoded) == 200
    payload = lb_payload(catalogue, cols, 0, 10)
    assert payload[0]["listened_at"] == int(cols.ts[0])
    assert payload[0]["track_metadata"]["track_name"] == bodies[0]["track"]["title"]


@pytest.mark.parametrize(
    ("raw", "n"), [("100k", 100_000), ("1m", 1_000_000), ("10M", 10_000_000), ("2500", 2500)]
)
def test_sizes(raw: str, n: int) -> None:
    assert parse_size(raw) == n
