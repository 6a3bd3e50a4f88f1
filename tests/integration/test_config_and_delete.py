"""Runtime config (secrets masked, changes as events) and tombstones through HTTP."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

from scrobbler.embedded_nats import EmbeddedNats
from tests.conftest import SEED_SCROBBLE, Stack, make_settings, running_stack


async def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


def listen(user: str, ts: int, title: str = "T") -> dict[str, Any]:
    body = copy.deepcopy(SEED_SCROBBLE)
    body.update(user=user, listened_at=ts, track={"title": title})
    return body


async def test_config_round_trip_masks_secrets(stack: Stack) -> None:
    c = stack.client
    defaults = (await c.get("/api/v1/config")).json()
    assert defaults["listenbrainz_token"] is None
    assert defaults["lms_source_name"] == "lms"
    r = await c.put(
        "/api/v1/config",
        json={"listenbrainz_user": "me", "listenbrainz_token": "tok-123", "default_user": "alice"},
    )
    assert r.status_code == 200, r.text
    assert sorted(r.json()["updated"]) == ["default_user", "listenbrainz_token", "listenbrainz_user"]

    async def applied() -> bool:
        return (await c.get("/api/v1/config")).json()["listenbrainz_user"] == "me"

    await wait_for(applied)
    cfg = (await c.get("/api/v1/config")).json()
    assert cfg["listenbrainz_token"] == "********"
    assert "tok-123" not in (await c.get("/api/v1/config")).text
    # default_user now names the user of scrobbles without one.
    body = copy.deepcopy(SEED_SCROBBLE)
    del body["user"]

    async def default_user_applied() -> bool:
        r = await c.post("/api/v1/scrobble", json=body)
        return r.status_code == 202 and await stack.count("alice") == 1

    await wait_for(default_user_applied)


async def test_config_rejects_unknown_keys_and_bad_values(stack: Stack) -> None:
    r = await stack.client.put("/api/v1/config", json={"colour": "blue"})
    assert r.status_code == 400
    assert "colour" in r.json()["detail"]
    r = await stack.client.put("/api/v1/config", json={"analyzer_scan_job_timeout": "soon"})
    assert r.status_code == 400
    assert "analyzer_scan_job_timeout" in r.json()["detail"]
    r = await stack.client.put("/api/v1/config", content=b"[1]")
    assert r.status_code == 400


async def test_admin_key_guards_operator_writes(tmp_path: Path, nats_server: EmbeddedNats) -> None:
    settings = make_settings(tmp_path, nats_server.url, api_key="s3cret")
    async with running_stack(settings) as s:
        assert (await s.client.put("/api/v1/config", json={"default_user": "x"})).status_code == 401
        wrong = await s.client.put(
            "/api/v1/config", json={"default_user": "x"}, headers={"X-Api-Key": "nope"}
        )
        assert wrong.status_code == 401
        assert (await s.client.delete("/api/v1/listens")).status_code == 401
        ok = await s.client.put("/api/v1/config", json={"default_user": "x"}, headers={"X-Api-Key": "s3cret"})
        assert ok.status_code == 200


async def test_tombstones_by_user_range_and_id_then_everything(any_db_stack: Stack) -> None:
    c = any_db_stack.client
    batch = [listen("ann", 1_700_000_000 + i * 3600) for i in range(10)] + [
        listen("bob", 1_700_000_000 + i * 3600) for i in range(5)
    ]
    ids = (await c.post("/api/v1/scrobble", json=batch)).json()["listen_ids"]
    assert await any_db_stack.wait_count(15) == 15

    # A time range of one user: ann's listens 2..4 (to is exclusive).
    r = await c.delete(
        "/api/v1/listens",
        params={"user": "ann", "from": 1_700_000_000 + 2 * 3600, "to": 1_700_000_000 + 5 * 3600},
    )
    assert r.status_code == 202, r.text
    assert await any_db_stack.wait_count(7, user="ann") == 7
    assert await any_db_stack.count("bob") == 5

    # One listen by id.
    assert (await c.delete("/api/v1/listens", params={"listen_id": ids[0]})).status_code == 202
    assert await any_db_stack.wait_count(6, user="ann") == 6
    assert (await c.get(f"/api/v1/listens/{ids[0]}")).status_code == 404

    # A listen submitted again after its tombstone comes back.
    assert (await c.post("/api/v1/scrobble", json=batch[0])).status_code == 202
    assert await any_db_stack.wait_count(7, user="ann") == 7

    # All of a user, then everything.
    await c.delete("/api/v1/listens", params={"user": "bob"})
    assert await any_db_stack.wait_count(0, user="bob") == 0
    await c.delete("/api/v1/listens")
    assert await any_db_stack.wait_count(0) == 0


async def test_delete_rejects_bad_ranges(stack: Stack) -> None:
    r = await stack.client.delete("/api/v1/listens", params={"from": "2024-02-01", "to": "2024-01-01"})
    assert r.status_code == 400
    assert "to" in r.json()["detail"]
    r = await stack.client.delete("/api/v1/listens", params={"from": "last tuesday"})
    assert r.status_code == 400
    assert "from" in r.json()["detail"]
