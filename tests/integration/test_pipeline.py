"""A scrobble goes in over HTTP, becomes an event, and shows up in the listen tables."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.conftest import SEED_SCROBBLE, Stack


def scrobble(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(SEED_SCROBBLE)
    body.update(changes)
    return body


async def test_seed_example_appears_in_recent_listens_with_all_fields(any_db_stack: Stack) -> None:
    s = any_db_stack
    r = await s.client.post("/api/v1/scrobble", json=SEED_SCROBBLE)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["accepted"] == 1
    assert body["duplicates"] == 0
    (listen_id,) = body["listen_ids"]
    assert await s.wait_count(1) == 1

    recent = (await s.client.get("/api/v1/listens/recent", params={"limit": 10})).json()
    assert len(recent) == 1
    listen = recent[0]
    assert listen["listen_id"] == listen_id
    assert listen["user"] == "teun"
    assert listen["source"] == "lms"
    assert listen["listened_at"] == "2024-01-01T12:00:00Z"
    assert listen["position_secs"] == 148
    assert listen["track"]["title"] == "My Track"
    assert listen["track"]["album"] == "My Album"
    assert listen["track"]["album_year"] == 2024
    assert listen["track"]["track_no"] == 3
    assert listen["track"]["disc_no"] == 1
    assert listen["track"]["duration_secs"] == 312
    assert [(a["name"], a["role"]) for a in listen["artists"]] == [
        ("Main Artist", "primary"),
        ("DJ X", "remixer"),
    ]
    assert sorted(listen["genres"]) == ["Hardcore", "Uptempo Hardcore"]

    detail = (await s.client.get(f"/api/v1/listens/{listen_id}")).json()
    assert detail == listen
    assert (await s.client.get("/api/v1/listens/count", params={"user": "teun"})).json() == {"count": 1}
    assert (await s.client.get("/api/v1/listens/count", params={"user": "nobody"})).json() == {"count": 0}


async def test_same_listen_twice_counts_once(stack: Stack) -> None:
    first = await stack.client.post("/api/v1/scrobble", json=SEED_SCROBBLE)
    again = await stack.client.post("/api/v1/scrobble", json=SEED_SCROBBLE)
    assert first.status_code == again.status_code == 202
    assert again.json()["duplicates"] == 1
    assert again.json()["listen_ids"] == first.json()["listen_ids"]
    # Same play spelt differently by another client (case, spacing, unix seconds) is the same listen.
    variant = scrobble(
        listened_at=1704110400, artists=[{"name": "main  ARTIST"}], track={"title": "my track"}
    )
    r = await stack.client.post("/api/v1/scrobble", json=variant)
    assert r.json()["listen_ids"] == first.json()["listen_ids"]
    assert await stack.wait_count(1) == 1


async def test_two_tracks_at_the_same_second_count_twice(stack: Stack) -> None:
    other = scrobble(track={"title": "Another Track"})
    r = await stack.client.post("/api/v1/scrobble", json=[SEED_SCROBBLE, other])
    assert r.status_code == 202
    assert r.json()["accepted"] == 2
    assert r.json()["duplicates"] == 0
    assert len(set(r.json()["listen_ids"])) == 2
    assert await stack.wait_count(2) == 2


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ({"track": {"title": 5}}, "$[2].track.title"),
        ({"artists": []}, "$[2].artists"),
        ({"listened_at": "yesterday"}, "$[2].listened_at"),
        ({"listened_at": "2024-01-01T12:00:00"}, "$[2].listened_at"),
        ({"listened_at": 100}, "$[2].listened_at"),
        ({"artists": [{"name": "X", "role": "drummer"}]}, "$[2].artists[0].role"),
        ({"unexpected": 1}, "unexpected"),
        ({"track": {"title": "   "}}, "$[2].track.title"),
    ],
)
async def test_batch_with_one_bad_listen_writes_nothing_and_names_it(
    stack: Stack, bad: dict[str, Any], expected: str
) -> None:
    good = [scrobble(listened_at=1_700_000_000 + i) for i in range(2)]
    r = await stack.client.post("/api/v1/scrobble", json=[*good, scrobble(**bad), scrobble()])
    assert r.status_code == 400, r.text
    assert set(r.json()) == {"error", "detail"}
    assert expected in r.json()["detail"]
    # A good request afterwards lands alone: nothing of the refused batch was written.
    ok = await stack.client.post("/api/v1/scrobble", json=scrobble(listened_at=1_600_000_000))
    assert ok.status_code == 202
    assert await stack.wait_count(1) == 1


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"[]", b'"text"', b"[" + b",".join([b'{"x":1}'] * 2) + b"]"],
)
async def test_malformed_bodies_get_400(stack: Stack, body: bytes) -> None:
    r = await stack.client.post("/api/v1/scrobble", content=body)
    assert r.status_code == 400
    assert r.json()["error"] == "bad request"


async def test_more_than_1000_listens_refused(stack: Stack) -> None:
    r = await stack.client.post(
        "/api/v1/scrobble", json=[scrobble(listened_at=1_700_000_000 + i) for i in range(1001)]
    )
    assert r.status_code == 400
    assert "at most 1000" in r.json()["detail"]


async def test_full_batch_of_1000_is_acknowledged_and_projected(stack: Stack) -> None:
    batch = [scrobble(listened_at=1_700_000_000 + i) for i in range(1000)]
    r = await stack.client.post("/api/v1/scrobble", json=batch)
    assert r.status_code == 202
    assert r.json()["accepted"] == 1000
    assert await stack.wait_count(1000) == 1000


async def test_subsonic_seed_example_stores_a_listen(stack: Stack) -> None:
    r = await stack.client.get(
        "/rest/scrobble.view",
        params={
            "u": "alice",
            "id": "track123",
            "time": "1712516400000",
            "t": "Song",
            "a": "Artist",
            "al": "Album",
            "g": "Chill",
        },
    )
    assert r.status_code == 200
    assert 'status="ok"' in r.text
    assert await stack.wait_count(1, user="alice") == 1
    (listen,) = (await stack.client.get("/api/v1/listens/recent", params={"user": "alice"})).json()
    assert listen["track"]["title"] == "Song"
    assert listen["artists"][0]["name"] == "Artist"
    assert listen["track"]["album"] == "Album"
    assert listen["genres"] == ["Chill"]
    assert listen["source_track_id"] == "track123"
    assert listen["listened_at"] == "2024-04-07T19:00:00Z"


async def test_subsonic_id_only_is_stored_unresolved(stack: Stack) -> None:
    r = await stack.client.post("/rest/scrobble", data={"u": "bob", "id": "media-9", "f": "json"})
    assert r.json()["subsonic-response"]["status"] == "ok"
    assert await stack.wait_count(1, user="bob") == 1
    (listen,) = (await stack.client.get("/api/v1/listens/recent", params={"user": "bob"})).json()
    assert listen["unresolved"] is True
    assert listen["source_track_id"] == "media-9"


async def test_unknown_listen_is_404_and_health_endpoints_answer(stack: Stack) -> None:
    r = await stack.client.get("/api/v1/listens/00000000-0000-8000-8000-000000000000")
    assert r.status_code == 404
    assert r.json()["error"] == "not found"
    assert (await stack.client.get("/healthz")).json()["status"] == "ok"
    ready = (await stack.client.get("/readyz")).json()
    assert ready["checks"] == {"stream": "ok", "database": "ok"}
    assert "scrobbler_http_requests_total" in (await stack.client.get("/metrics")).text
    spec = (await stack.client.get("/schema/openapi.json")).json()
    assert "/api/v1/scrobble" in spec["paths"]
    assert "/api/v1/listens/recent" in spec["paths"]


async def test_history_pages_by_cursor_and_by_seed_period(stack: Stack) -> None:
    batch = [scrobble(listened_at=f"2024-03-{d:02d}T10:00:00Z") for d in range(1, 21)]
    await stack.client.post("/api/v1/scrobble", json=batch)
    assert await stack.wait_count(20) == 20
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 7}
        if cursor:
            params["cursor"] = cursor
        page = (await stack.client.get("/api/v1/listens", params=params)).json()
        seen += [i["listened_at"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(seen, reverse=True)
    assert len(seen) == 20
    week = (await stack.client.get("/api/v1/listens", params={"period": "week", "value": "2024-W10"})).json()
    assert week["total"] == 7  # 2024-03-04 .. 2024-03-10
    month = (
        await stack.client.get(
            "/api/v1/listens", params={"period": "month", "value": "2024-03", "page": 2, "page_size": 15}
        )
    ).json()
    assert month["total"] == 20
    assert len(month["items"]) == 5
    assert month["page"] == 2
    bad = await stack.client.get("/api/v1/listens", params={"period": "week", "value": "March"})
    assert bad.status_code == 400
    assert "value" in bad.json()["detail"]


async def test_body_over_the_limit_is_413_and_chunked_bodies_are_read_whole(stack: Stack) -> None:
    """Ingest reads bodies straight from the ASGI channel: the size limit and multi-chunk bodies hold."""
    huge = b'{"user": "' + b"x" * stack.settings.http.max_body_bytes + b'"}'
    r = await stack.client.post("/api/v1/scrobble", content=huge)
    assert r.status_code == 413
    assert r.json()["error"] == "payload too large"
    assert f"{stack.settings.http.max_body_bytes:,} bytes" in r.json()["detail"]

    async def chunks() -> Any:
        body = json.dumps([scrobble(listened_at=1_650_000_000 + i) for i in range(50)]).encode()
        for i in range(0, len(body), 100):
            yield body[i : i + 100]

    r = await stack.client.post("/api/v1/scrobble", content=chunks())
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == 50
