"""``scrobbler replay --cube``: a new cube file built beside the live one, swapped in when it is free."""

from __future__ import annotations

from pathlib import Path

import duckdb

from query_api.cube import cube_extension
from query_api.routes.stats_all import cube_routes
from scrobbler.embedded_nats import EmbeddedNats
from tests.conftest import make_settings, running_stack
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


async def test_cube_replay_builds_beside_then_swaps_when_free(
    tmp_path: Path, nats_server: EmbeddedNats
) -> None:
    settings = make_settings(tmp_path, nats_server.url)
    ext = [cube_extension(settings)]
    async with running_stack(settings, extensions=ext, extra_routes=cube_routes()) as stack:
        assert (await stack.client.post("/api/v1/scrobble", json=scrobbles_for(0, 300))).status_code == 202
        assert (await stack.client.delete("/api/v1/listens", params={"user": "user2"})).status_code == 202
        expected = sum(1 for i in range(300) if i % 7 != 2)
        assert await stack.wait_count(expected) == expected
        # While the query API holds the cube, the replay builds the new file and says what to do.
        code, out, err = await run_cli(settings, "replay", "--cube")
        assert code == 0, err
        assert "held by a running query API" in out
        before = (await stack.client.get("/api/v1/stats/artists", params={"limit": 200})).json()
    old_replica, old_pos, old_n = _cube_state(settings.db.duckdb_path)
    assert (old_pos, old_n) == (301, expected)

    code, out, err = await run_cli(settings, "replay", "--cube")
    assert code == 0, err
    assert "swapped in" in out
    replica, pos, n = _cube_state(settings.db.duckdb_path)
    assert replica != old_replica
    assert (pos, n) == (301, expected)
    async with running_stack(settings, extensions=ext, extra_routes=cube_routes()) as stack:
        assert (await stack.client.get("/api/v1/stats/artists", params={"limit": 200})).json() == before


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
    async with running_stack(settings, extensions=ext, extra_routes=cube_routes()) as stack:
        assert await stack.count() == 200
        assert (await stack.client.get("/api/v1/stats/artists", params={"limit": 200})).json() == before
