"""Every stats endpoint over HTTP against the real cube, with answers worked out by hand."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from query_api.cube import cube_extension
from query_api.routes.stats_all import cube_routes
from schemas.identity import stable_id
from scrobbler.embedded_nats import EmbeddedNats
from scrobbler.settings import Settings
from tests.conftest import Stack, make_settings, running_stack


def listen(
    user: str,
    at: str,
    title: str,
    artists: list[tuple[str, str]],
    album: str | None,
    secs: int,
    genres: list[str],
) -> dict[str, Any]:
    track: dict[str, Any] = {"title": title}
    if album:
        track["album"] = album
    return {
        "user": user,
        "listened_at": at,
        "duration_secs": secs,
        "track": track,
        "artists": [{"name": n, "role": r} for n, r in artists],
        "genres": genres,
    }


LISTENS = [
    listen(
        "ann",
        "2024-01-01T10:00:00Z",
        "Song A",
        [("Alpha", "primary"), ("Beta", "featured")],
        "Alb1",
        200,
        ["rock"],
    ),
    listen("ann", "2024-01-01T11:00:00Z", "Song B", [("Alpha", "primary")], "Alb1", 100, ["rock", "pop"]),
    listen(
        "ann",
        "2024-01-02T10:00:00Z",
        "Song A",
        [("Alpha", "primary"), ("Beta", "featured")],
        "Alb1",
        200,
        ["rock"],
    ),
    listen("bob", "2024-01-03T22:00:00Z", "Song C", [("Beta", "primary")], "Alb2", 300, ["pop"]),
    listen("ann", "2024-01-05T09:00:00Z", "Song D", [("Gamma", "primary")], None, 50, []),
]


@contextlib.asynccontextmanager
async def cube_running(settings: Settings) -> AsyncIterator[Stack]:
    async with running_stack(
        settings, extensions=[cube_extension(settings)], extra_routes=cube_routes()
    ) as s:
        yield s


async def wait_listens(s: Stack, expected: int, timeout: float = 15.0) -> None:
    """Wait until the cube (not the SQL model) counts ``expected`` listens."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        r = await s.client.get("/api/v1/stats/kpis")
        if r.status_code == 200 and r.json()["current"]["listens"] == expected:
            return
        assert asyncio.get_running_loop().time() < deadline, r.text
        await asyncio.sleep(0.05)


@pytest.fixture
async def cube_stack(tmp_path: Path, nats_server: EmbeddedNats) -> AsyncIterator[Stack]:
    async with cube_running(make_settings(tmp_path, nats_server.url)) as s:
        r = await s.client.post("/api/v1/scrobble", json=[*LISTENS, LISTENS[0]])  # one duplicate
        assert r.status_code == 202, r.text
        await wait_listens(s, 5)
        yield s


async def get(s: Stack, path: str, **params: Any) -> Any:
    r = await s.client.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def names(items: list[dict[str, Any]]) -> list[tuple[str, int, int]]:
    return [(i["name"], i["listens"], i["listening_secs"]) for i in items]


async def test_top_lists(cube_stack: Stack) -> None:
    s = cube_stack
    body = await get(s, "/api/v1/stats/artists")
    # Alpha and Beta both 3 listens: the tie goes to listening time (Beta 700 s, Alpha 500 s).
    assert names(body["items"]) == [("Beta", 3, 700), ("Alpha", 3, 500), ("Gamma", 1, 50)]
    assert body["total"] == 3 and body["by"] == "plays" and body["window"]["label"] == "all_time"
    assert body["items"][0]["id"] == str(stable_id("artist", "Beta")) and body["items"][0]["rank"] == 1
    by_time = await get(s, "/api/v1/stats/tracks", by="time")
    assert names(by_time["items"]) == [
        ("Song A", 2, 400),
        ("Song C", 1, 300),
        ("Song B", 1, 100),
        ("Song D", 1, 50),
    ]
    assert by_time["items"][0]["artist"] == "Alpha"
    albums = await get(s, "/api/v1/stats/albums")
    assert names(albums["items"]) == [("Alb1", 3, 500), ("Alb2", 1, 300)]
    genres = await get(s, "/api/v1/stats/genres", user="ann")
    assert names(genres["items"]) == [("rock", 3, 500), ("pop", 1, 100)]
    assert names((await get(s, "/api/v1/stats/artists", q="AMM"))["items"]) == [("Gamma", 1, 50)]
    window = await get(s, "/api/v1/stats/artists", **{"from": "2024-01-02", "to": "2024-01-04"})
    assert names(window["items"]) == [("Beta", 2, 500), ("Alpha", 1, 200)]
    # the seed's calendar paging
    seed = await get(s, "/api/v1/stats/artists", period="month", value="2024-01", page=2, page_size=2)
    assert (seed["page"], seed["page_size"], seed["total"]) == (2, 2, 3)
    assert names(seed["items"]) == [("Gamma", 1, 50)] and seed["items"][0]["rank"] == 3
    assert (await get(s, "/api/v1/stats/artists", period="year", value="2023"))["total"] == 0


async def test_kpis_timeline_heatmap_streaks(cube_stack: Stack) -> None:
    s = cube_stack
    k = await get(s, "/api/v1/stats/kpis")
    assert k["current"] == {
        "listens": 5,
        "listening_secs": 850,
        "artists": 3,
        "albums": 2,
        "tracks": 4,
        "genres": 2,
        "active_days": 4,
        "avg_listens_per_day": 1.0,
    }
    assert k["previous"] is None
    k = await get(s, "/api/v1/stats/kpis", **{"from": "2024-01-03", "to": "2024-01-05"})
    assert k["current"]["listens"] == 1 and k["current"]["avg_listens_per_day"] == 0.5
    assert k["previous"]["listens"] == 3 and k["previous"]["artists"] == 2
    t = await get(s, "/api/v1/stats/timeline", bucket="day", **{"from": "2024-01-01", "to": "2024-01-06"})
    assert [(p["start"], p["listens"]) for p in t["points"]] == [
        ("2024-01-01", 2),
        ("2024-01-02", 1),
        ("2024-01-03", 1),
        ("2024-01-04", 0),
        ("2024-01-05", 1),
    ]
    t = await get(s, "/api/v1/stats/timeline", bucket="week")
    assert [(p["start"], p["listens"], p["listening_secs"]) for p in t["points"]] == [("2024-01-01", 5, 850)]
    cells = (await get(s, "/api/v1/stats/heatmap"))["cells"]
    assert len(cells) == 168
    assert {(c["weekday"], c["hour"]): c["listens"] for c in cells if c["listens"]} == {
        (0, 10): 1,
        (0, 11): 1,
        (1, 10): 1,
        (2, 22): 1,
        (4, 9): 1,
    }
    shifted = (await get(s, "/api/v1/stats/heatmap", tz="Europe/Amsterdam"))["cells"]
    assert {(c["weekday"], c["hour"]) for c in shifted if c["listens"]} == {
        (0, 11),
        (0, 12),
        (1, 11),
        (2, 23),
        (4, 10),
    }
    assert (await s.client.get("/api/v1/stats/heatmap", params={"tz": "Mars/Base"})).status_code == 400
    st = await get(s, "/api/v1/stats/streaks", user="ann")
    assert st == {"longest": {"start": "2024-01-01", "end": "2024-01-02", "days": 2}, "current": None}


async def test_discoveries_hype_details(cube_stack: Stack) -> None:
    s = cube_stack
    d = await get(s, "/api/v1/stats/discoveries", **{"from": "2024-01-02", "to": "2024-01-06"})
    assert [(i["name"], i["listens"], i["first_listen"]) for i in d["items"]] == [
        ("Gamma", 1, "2024-01-05T09:00:00Z")
    ]
    d = await get(
        s,
        "/api/v1/stats/discoveries",
        user="bob",
        kind="tracks",
        **{"from": "2024-01-02", "to": "2024-01-06"},
    )
    assert [(i["name"], i["artist"]) for i in d["items"]] == [("Song C", "Beta")]
    h = await get(s, "/api/v1/stats/hype", **{"from": "2024-01-03", "to": "2024-01-06"})
    assert [(i["name"], i["listens"], i["previous_listens"], i["change"]) for i in h["items"]] == [
        ("Gamma", 1, 0, 1)
    ]
    assert (await s.client.get("/api/v1/stats/hype", params={"range": "all_time"})).status_code == 400
    alpha = await get(s, f"/api/v1/stats/artists/{stable_id('artist', 'Alpha')}")
    assert (alpha["name"], alpha["listens"], alpha["listening_secs"]) == ("Alpha", 3, 500)
    assert (alpha["first_listen"], alpha["last_listen"]) == ("2024-01-01T10:00:00Z", "2024-01-02T10:00:00Z")
    assert names(alpha["top_tracks"]) == [("Song A", 2, 400), ("Song B", 1, 100)]
    assert names(alpha["top_albums"]) == [("Alb1", 3, 500)]
    assert [(p["start"], p["listens"]) for p in alpha["timeline"]] == [("2024-01-01", 3)]
    album = await get(s, f"/api/v1/stats/albums/{stable_id('album', 'Alpha', 'Alb1')}")
    assert names(album["top_artists"]) == [("Alpha", 3, 500), ("Beta", 2, 400)]
    track = await get(s, f"/api/v1/stats/tracks/{stable_id('track', 'Beta', 'Song C')}")
    assert (track["name"], track["artist"], track["listens"]) == ("Song C", "Beta", 1)
    rock = await get(s, "/api/v1/stats/genres/rock")
    assert (rock["listens"], names(rock["top_artists"])) == (3, [("Alpha", 3, 500)])
    assert (await s.client.get("/api/v1/stats/artists/123")).status_code == 404
    assert (await s.client.get("/api/v1/stats/artists/abc")).status_code == 400


async def test_year_review_reports_and_seed_extras(cube_stack: Stack) -> None:
    s = cube_stack
    y = await get(s, "/api/v1/stats/year-in-review", year=2024)
    assert y["kpis"]["current"]["listens"] == 5 and y["kpis"]["previous"]["listens"] == 0
    assert [p["start"] for p in y["timeline"]][:2] == ["2024-01-01", "2024-02-01"] and len(
        y["timeline"]
    ) == 12
    assert y["top_artists"][0]["name"] == "Beta" and len(y["heatmap"]) == 168
    assert {d["name"] for d in y["discoveries"]} == {"Alpha", "Beta", "Gamma"}
    r = await get(s, "/api/v1/stats/reports", period="week", value="2024-W01", user="ann")
    assert r["kpis"]["current"]["listens"] == 4 and names(r["top_genres"]) == [
        ("rock", 3, 500),
        ("pop", 1, 100),
    ]
    g = await get(s, "/api/v1/stats/top-artist-by-genre", year=2024)
    assert g["items"] == [
        {"genre": "rock", "artist": "Alpha", "artist_id": str(stable_id("artist", "Alpha")), "listens": 3},
        {"genre": "pop", "artist": "Alpha", "artist_id": str(stable_id("artist", "Alpha")), "listens": 1},
    ]
    tod = await get(s, "/api/v1/stats/time-of-day", year=2024, period="morning")
    assert tod["items"] == [
        {"track": "Song A", "artist": "Alpha", "listens": 2},
        {"track": "Song B", "artist": "Alpha", "listens": 1},
        {"track": "Song D", "artist": "Gamma", "listens": 1},
    ]
    assert (await get(s, "/api/v1/stats/time-of-day", year=2024, period="night"))["items"] == []


async def test_listenbrainz_stats(cube_stack: Stack) -> None:
    s = cube_stack
    body = await get(s, "/1/stats/user/ann/artists", range="all_time")
    p = body["payload"]
    assert [(a["artist_name"], a["listen_count"]) for a in p["artists"]] == [
        ("Alpha", 3),
        ("Beta", 2),
        ("Gamma", 1),
    ]
    assert (p["total_artist_count"], p["count"], p["offset"], p["user_id"]) == (3, 3, 0, "ann")
    rec = (await get(s, "/1/stats/user/ann/recordings", count=1))["payload"]
    assert rec["recordings"][0]["track_name"] == "Song A" and rec["total_recording_count"] == 3
    rel = (await get(s, "/1/stats/user/bob/releases"))["payload"]
    assert [(r["release_name"], r["artist_name"], r["listen_count"]) for r in rel["releases"]] == [
        ("Alb2", "Beta", 1)
    ]
    daily = (await get(s, "/1/stats/user/ann/daily-activity"))["payload"]["daily_activity"]
    assert [h["listen_count"] for h in daily["Monday"]][10:12] == [1, 1] and len(daily["Sunday"]) == 24
    act = (await get(s, "/1/stats/user/ann/listening-activity"))["payload"]["listening_activity"]
    assert [(a["time_range"], a["listen_count"]) for a in act] == [("2024", 4)]
    assert (await s.client.get("/1/stats/user/nobody/artists")).status_code == 404
    assert (await s.client.get("/1/stats/user/ann/artists", params={"range": "this_week"})).status_code == 204


async def test_tombstone_removes_listens_from_every_stat_and_rebuild_is_identical(
    tmp_path: Path, nats_server: EmbeddedNats
) -> None:
    settings = make_settings(tmp_path, nats_server.url)
    paths = [
        ("/api/v1/stats/artists", {}),
        ("/api/v1/stats/genres", {}),
        ("/api/v1/stats/kpis", {}),
        ("/api/v1/stats/timeline", {"bucket": "day"}),
        ("/api/v1/stats/heatmap", {}),
        ("/api/v1/stats/tracks", {"by": "time"}),
        ("/api/v1/stats/top-artist-by-genre", {}),
    ]
    async with cube_running(settings) as s:
        assert (await s.client.post("/api/v1/scrobble", json=LISTENS)).status_code == 202
        await wait_listens(s, 5)
        r = await s.client.delete("/api/v1/listens", params={"user": "bob"})
        assert r.status_code in (200, 202), r.text
        await wait_listens(s, 4)
        assert names((await get(s, "/api/v1/stats/artists"))["items"]) == [
            ("Alpha", 3, 500),
            ("Beta", 2, 400),
            ("Gamma", 1, 50),
        ]
        assert names((await get(s, "/api/v1/stats/albums"))["items"]) == [("Alb1", 3, 500)]
        assert (await get(s, "/api/v1/stats/kpis", user="bob"))["current"]["listens"] == 0
        # the same listen submitted again after the tombstone comes back
        assert (await s.client.post("/api/v1/scrobble", json=LISTENS[3])).status_code == 202
        await wait_listens(s, 5)
        before = [await get(s, path, **params) for path, params in paths]
    settings.db.duckdb_path.unlink()
    async with cube_running(settings) as s:
        await wait_listens(s, 5)
        after = [await get(s, path, **params) for path, params in paths]
    assert after == before


async def test_live_events_after_a_listen(cube_stack: Stack) -> None:
    s = cube_stack

    async def first_event() -> dict[str, Any]:
        async with s.client.stream("GET", "/api/v1/events") as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            event = None
            async for line in r.aiter_lines():
                if line.startswith(": ping"):
                    ready.set()
                elif line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event == "listens":
                    return dict(json.loads(line.split(":", 1)[1]))
        raise AssertionError("stream ended")

    ready = asyncio.Event()
    reader = asyncio.create_task(first_event())
    await asyncio.wait_for(ready.wait(), 10)
    new = listen("ann", "2024-02-01T10:00:00Z", "Song E", [("Delta", "primary")], None, 10, [])
    assert (await s.client.post("/api/v1/scrobble", json=new)).status_code == 202
    data = await asyncio.wait_for(reader, 10)
    assert data["count"] == 1 and data["position"] > 0
