"""Nothing acknowledged is lost or doubled: kill -9 of the projector, a stopped stream server."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from projector import checkpoint
from projector.db import create_engine
from projector.migrate import migrate
from projector.tables import credit_sets, listens
from scrobbler.embedded_nats import EmbeddedNats, start_embedded
from scrobbler.settings import Settings
from tests.conftest import make_settings, mariadb_database, running_stack
from tests.integration.replay_support import cli_env

pytestmark = pytest.mark.slow


def projector_process(settings: Settings) -> subprocess.Popen[bytes]:
    env = cli_env(settings)
    return subprocess.Popen([sys.executable, "-m", "scrobbler.cli", "projector", "--no-http"], env=env)


def batch(start: int, n: int, users: int = 7) -> list[dict[str, Any]]:
    return [
        {
            "user": f"user{i % users}",
            "listened_at": 1_500_000_000 + i * 61,
            "track": {"title": f"Track {i}", "album": f"Album {i % 50}", "duration_secs": 200},
            "artists": [{"name": f"Artist {i % 97}"}, {"name": f"Guest {i % 13}", "role": "featured"}],
            "genres": [f"genre{i % 5}"],
        }
        for i in range(start, start + n)
    ]


async def sql_counts(dsn: str) -> tuple[int, int, int]:
    engine = create_engine(dsn)
    try:
        async with engine.connect() as conn:
            n = (await conn.execute(select(func.count()).select_from(listens))).scalar_one()
            credits = (
                await conn.execute(
                    select(func.count()).select_from(
                        listens.join(credit_sets, credit_sets.c.set_id == listens.c.credit_set_id)
                    )
                )
            ).scalar_one()
            pos = await checkpoint.load(conn, "sql")
        return int(n), int(credits), pos
    finally:
        await engine.dispose()


async def wait_until(predicate: Any, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def _kill9_projector_mid_batch(settings: Settings) -> None:
    total = 12_000
    engine = create_engine(settings.db.dsn)
    await migrate(engine)
    await engine.dispose()
    async with running_stack(settings, projector=False) as s:
        for start in range(0, total, 1000):
            r = await s.client.post("/api/v1/scrobble", json=batch(start, 1000))
            assert r.status_code == 202, r.text
        # Retries of acknowledged batches (a client that never saw the answer) change nothing.
        await s.client.post("/api/v1/scrobble", json=batch(0, 1000))

        killed = 0
        proc = projector_process(settings)
        try:
            for _ in range(3):
                # Let it get partway, then kill -9 while it is busy.
                async def progressing(before: int = killed) -> bool:
                    n, _, _ = await sql_counts(settings.db.dsn)
                    return n > before * 3000 + 500 or n >= total

                await wait_until(progressing, 60)
                n_before, _, _ = await sql_counts(settings.db.dsn)
                if n_before >= total:
                    break
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                killed += 1
                proc = projector_process(settings)

            async def done() -> bool:
                n, _, _ = await sql_counts(settings.db.dsn)
                return n >= total

            await wait_until(done, 120)
            # A moment more for any (wrong) extra rows to show up.
            await asyncio.sleep(0.5)
            n, credits, pos = await sql_counts(settings.db.dsn)
            assert n == total
            assert credits == 2 * total
            assert (await s.client.get("/api/v1/listens/count")).json() == {"count": total}
            for u in range(7):
                expected = len([i for i in range(total) if i % 7 == u])
                got = (await s.client.get("/api/v1/listens/count", params={"user": f"user{u}"})).json()
                assert got == {"count": expected}
            assert pos >= total
            assert killed >= 1, "the projector finished before it could be killed; raise total"
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()  # never leave a projector behind (it would load the machine for good)
                proc.wait()
                raise


async def test_kill9_projector_on_sqlite_counts_exact(tmp_path: Path, nats_server: EmbeddedNats) -> None:
    await _kill9_projector_mid_batch(make_settings(tmp_path, nats_server.url))


@pytest.mark.mariadb
async def test_kill9_projector_on_mariadb_counts_exact(tmp_path: Path, nats_server: EmbeddedNats) -> None:
    async with mariadb_database() as dsn:
        await _kill9_projector_mid_batch(make_settings(tmp_path, nats_server.url, dsn))


async def test_stream_down_answers_503_with_retry_after_then_recovers(tmp_path: Path) -> None:
    store = tmp_path / "nats"
    server = start_embedded(store)
    port = int(server.url.rsplit(":", 1)[1])
    settings = make_settings(tmp_path, server.url)
    try:
        async with running_stack(settings) as s:
            ok = await s.client.post("/api/v1/scrobble", json=batch(0, 1))
            assert ok.status_code == 202
            server.stop()
            refused = await s.client.post("/api/v1/scrobble", json=batch(1, 5))
            assert refused.status_code == 503, refused.text
            assert refused.headers["retry-after"].isdigit()
            assert refused.json()["error"] == "unavailable"
            assert (await s.client.get("/readyz")).status_code == 503
            # Bad input is still a 400 while the stream is down: validation comes first.
            assert (await s.client.post("/api/v1/scrobble", json={"track": {}})).status_code == 400

            server = start_embedded(store, port=port)

            async def accepted() -> bool:
                r = await s.client.post("/api/v1/scrobble", json=batch(1, 5))
                return r.status_code == 202

            await wait_until(accepted, 30)
            # The first listen survived the restart (file storage) and the retried batch is not doubled.
            assert await s.wait_count(6, timeout=30) == 6
    finally:
        server.stop()
