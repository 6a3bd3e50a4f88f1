"""``scrobbler backup`` → wipe everything → ``scrobbler restore``: the same answers."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import nats
from sqlalchemy.engine import make_url

from scrobbler.embedded_nats import EmbeddedNats
from tests.conftest import make_settings, running_stack
from tests.integration.replay_support import run_cli, scrobbles_for, snapshot


async def _answers(stack: object) -> dict[str, object]:
    c = stack.client  # type: ignore[attr-defined]
    return {
        "count": (await c.get("/api/v1/listens/count")).json(),
        "user1": (await c.get("/api/v1/listens/count", params={"user": "user1"})).json(),
        "user3": (await c.get("/api/v1/listens/count", params={"user": "user3"})).json(),
        "recent": (await c.get("/api/v1/listens/recent", params={"limit": 100})).json(),
        "history": (await c.get("/api/v1/listens", params={"period": "all", "page_size": 500})).json(),
    }


async def test_backup_wipe_restore_gives_identical_answers(tmp_path: Path, nats_server: EmbeddedNats) -> None:
    settings = make_settings(tmp_path, nats_server.url)
    path = tmp_path / "scrobbles.backup"
    async with running_stack(settings) as stack:
        for start in range(0, 600, 200):
            assert (
                await stack.client.post("/api/v1/scrobble", json=scrobbles_for(start, 200))
            ).status_code == 202
        assert (await stack.client.delete("/api/v1/listens", params={"user": "user3"})).status_code == 202
        assert (await stack.client.post("/api/v1/scrobble", json=scrobbles_for(600, 20))).status_code == 202
        expected_count = sum(1 for i in range(600) if i % 7 != 3) + 20
        assert await stack.wait_count(expected_count) == expected_count
        before = await _answers(stack)
        tables = await snapshot(settings.db.dsn)

        code, out, err = await run_cli(settings, "backup", str(path))
        assert code == 0, err
        assert "621 events" in out
        assert "620 listens" in out
    with gzip.open(path) as f:
        assert f.read(4)  # a gzip file

    # Wipe: the stream and the database are gone.
    nc = await nats.connect(nats_server.url)
    await nc.jetstream().delete_stream(settings.nats.stream)
    await nc.close()
    os.unlink(make_url(settings.db.dsn).database or "")

    code, out, err = await run_cli(settings, "restore", str(path))
    assert code == 0, err
    assert "verified" in out
    assert "620 listens" in out
    assert await snapshot(settings.db.dsn) == tables
    async with running_stack(settings) as stack:
        assert await _answers(stack) == before

    # Restoring into a stream that is not empty is refused, naming the problem.
    code, _, err = await run_cli(settings, "restore", str(path))
    assert code != 0
    assert "empty stream" in err


async def test_damaged_backup_is_refused(tmp_path: Path, nats_server: EmbeddedNats) -> None:
    settings = make_settings(tmp_path, nats_server.url)
    path = tmp_path / "b.backup"
    async with running_stack(settings) as stack:
        assert (await stack.client.post("/api/v1/scrobble", json=scrobbles_for(0, 50))).status_code == 202
        assert await stack.wait_count(50) == 50
        assert (await run_cli(settings, "backup", str(path)))[0] == 0
    with gzip.open(path) as f:
        raw = f.read()
    cut = tmp_path / "cut.backup"
    with gzip.open(cut, "wb") as f:
        f.write(raw[: len(raw) // 2])
    other = make_settings(tmp_path / "other", nats_server.url)
    code, _, err = await run_cli(other, "restore", str(cut))
    assert code != 0
    assert "truncated" in err or "trailer" in err
