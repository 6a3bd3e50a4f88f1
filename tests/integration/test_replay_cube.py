"""``scrobbler replay --cube``: a new cube file built beside the live one, then swapped in (by the
running query API, or by the replay when none holds the cube)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import duckdb

from query_api.cube import cube_extension
from query_api.cube.schema import replay_path
from query_api.routes.admin import admin_status
from query_api.routes.stats_all import cube_routes
from scrobbler.embedded_nats import EmbeddedNats
from tests.conftest import Stack, make_settings, running_stack
from tests.integration.replay_support import run_cli, scrobbles_for


def _cube_state(path: Path) -> tuple[str, int, int]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        replica = con.execute("SELECT value FROM cube_meta WHERE key = 'replica_id'").fetchall()[0][0]
        (pos,) = con.execute("SELECT stream_seq FROM projection_checkpoint").fetchall()[0]
        (n,) = con.execute("SELECT count(*) FROM listens").fetchall()[0]
    finally:
        con.close()
    return str(replica), int(pos), int(n)


async def _cube_listens(stack: Stack, expected: int) -> None:
    """Wait until the cube (not only SQL) counts ``expected`` listens."""
    for _ in range(300):
        kpis = (await stack.client.get("/api/v1/stats/kpis", params={"range": "all_time"})).json()
        if kpis["current"]["listens"] == expected:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the cube never counted {expected} listens: {kpis}")


async def _cube_model(stack: Stack) -> dict[str, Any]:
    status = (await stack.client.get("/api/v1/admin/status")).json()
    (model,) = [m for m in status["read_models"] if m["kind"] == "cube"]
    return {"model": model, "consumers": {c["name"] for c in status["consumers"]}}


async def test_cube_replay_swaps_into_the_running_query_api(
    tmp_path: Path, nats_server: EmbeddedNats
) -> None:
    """The query API takes the rebuilt file without a restart: every read during the switch answers,
    with the same numbers, and the new cube goes on following the stream."""
    settings = make_settings(tmp_path, nats_server.url)
    ext = [cube_extension(settings)]
    routes = [*cube_routes(), admin_status]
    async with running_stack(settings, extensions=ext, extra_routes=routes) as stack:
        assert (await stack.client.post("/api/v1/scrobble", json=scrobbles_for(0, 300))).status_code == 202
        assert (await stack.client.delete("/api/v1/listens", params={"user": "user2"})).status_code == 202
        expected = sum(1 for i in range(300) if i % 7 != 2)
        await _cube_listens(stack, expected)
        before = (await stack.client.get("/api/v1/stats/artists", params={"limit": 200})).json()
        old = await _cube_model(stack)

        answers: list[tuple[int, Any]] = []
        done = asyncio.Event()

        async def read_all_along() -> None:
            while not done.is_set():
                r = await stack.client.get("/api/v1/stats/artists", params={"limit": 200})
                answers.append((r.status_code, r.json()))

        reader = asyncio.create_task(read_all_along())
        code, out, err = await run_cli(settings, "replay", "--cube")
        done.set()
        await reader
        assert code == 0, err
        assert "swapped in" in out
        assert len(answers) > 5
        assert all(answer == (200, before) for answer in answers)

        new = await _cube_model(stack)
        assert new["model"]["name"] != old["model"]["name"]
        assert new["model"]["position"] == old["model"]["position"] == 301
        assert old["model"]["name"] not in new["consumers"]
        assert not replay_path(settings.db.duckdb_path).exists()

        assert (await stack.client.post("/api/v1/scrobble", json=scrobbles_for(1000, 14))).status_code == 202
        await _cube_listens(stack, expected + 14)
    replica, pos, n = _cube_state(settings.db.duckdb_path)
    assert f"cube-{replica}" == new["model"]["name"]
    assert (pos, n) == (315, expected + 14)


async def test_replay_of_both_models_runs_them_side_by_side(
    tmp_path: Path, nats_server: EmbeddedNats
) -> None:
    """``scrobbler replay`` without flags: SQL here, the cube in a second process, both switched."""
    settings = make_settings(tmp_path, nats_server.url)
    ext = [cube_extension(settings)]
    async with running_stack(settings, extensions=ext, extra_routes=cube_routes()) as stack:
        assert (await stack.client.post("/api/v1/scrobble", json=scrobbles_for(0, 200))).status_code == 202
        assert await stack.wait_count(200) == 200
        before = (await stack.client.get("/api/v1/stats/artists", params={"limit": 200})).json()
    old_replica, _, _ = _cube_state(settings.db.duckdb_path)

    code, out, err = await run_cli(settings, "replay")
    assert code == 0, err
    assert "sql: rebuilt 200 events" in out
    assert "swapped in" in out
    replica, pos, n = _cube_state(settings.db.duckdb_path)
    assert replica != old_replica
    assert (pos, n) == (200, 200)
    # the replay sealed its rollups once at the end: all-time answers start with no tail
    con = duckdb.connect(str(settings.db.duckdb_path), read_only=True)
    try:
        assert con.execute("SELECT value FROM cube_meta WHERE key = 'rollup_seq'").fetchall() == [("200",)]
    finally:
        con.close()
    async with running_stack(settings, extensions=ext, extra_routes=cube_routes()) as stack:
        assert await stack.count() == 200
        assert (await stack.client.get("/api/v1/stats/artists", params={"limit": 200})).json() == before
