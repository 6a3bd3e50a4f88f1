"""``scrobbler status`` and ``GET /api/v1/admin/status``: stream, consumer lag, read-model positions."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

from query_api.cube import cube_extension
from query_api.routes.admin import admin_status
from query_api.routes.stats_all import cube_routes
from scrobbler.embedded_nats import EmbeddedNats
from tests.conftest import make_settings, running_stack
from tests.integration.replay_support import run_cli, scrobbles_for, wait_position


async def test_status_over_http_and_cli(tmp_path: Path, nats_server: EmbeddedNats) -> None:
    settings = make_settings(tmp_path, nats_server.url)
    async with running_stack(
        settings, extensions=[cube_extension(settings)], extra_routes=[*cube_routes(), admin_status]
    ) as stack:
        assert (await stack.client.post("/api/v1/scrobble", json=scrobbles_for(0, 120))).status_code == 202
        assert await stack.wait_count(120) == 120
        assert await wait_position(settings.db.dsn, 120) == 120
        cube = None
        for _ in range(200):
            body = (await stack.client.get("/api/v1/admin/status")).json()
            cube = next(m for m in body["read_models"] if m["kind"] == "cube")
            if cube["position"] == 120:
                break
            await asyncio.sleep(0.05)
        assert body["stream"]["name"] == settings.nats.stream
        assert body["stream"]["messages"] == 120
        assert body["stream"]["first_seq"] == 1
        assert body["stream"]["last_seq"] == 120
        assert body["stream"]["bytes"] > 0
        sql = next(m for m in body["read_models"] if m["name"] == "sql")
        assert sql == {**sql, "kind": "sql", "position": 120, "behind": 0}
        assert cube is not None
        assert cube["position"] == 120
        # when this replica's cube last committed a batch: just now
        committed = datetime.fromisoformat(cube["updated_at"])
        assert abs((datetime.now(UTC) - committed).total_seconds()) < 60
        consumers = {c["name"]: c for c in body["consumers"]}
        assert consumers["sql"]["lag"] == 0
        assert consumers["sql"]["delivered_seq"] == 120
        assert consumers["sql"]["last_active"] is not None
        assert cube["name"] in consumers

        # The projector stops; new listens show up as lag and as "behind".
        for stop in stack.stops:
            stop.set()
        for task in stack.tasks:
            await task
        stack.tasks.clear()
        assert (await stack.client.post("/api/v1/scrobble", json=scrobbles_for(500, 30))).status_code == 202
        code, out, err = await run_cli(settings, "status", "--json")
        assert code == 0, err
        cli = json.loads(out)
        assert cli["stream"]["last_seq"] == 150
        assert {c["name"]: c["lag"] for c in cli["consumers"]}["sql"] == 30
        assert next(m for m in cli["read_models"] if m["name"] == "sql")["behind"] == 30
        code, out, err = await run_cli(settings, "status")
        assert code == 0, err
        assert "read models" in out
        assert "consumers" in out
