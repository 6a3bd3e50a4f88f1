"""``scrobbler replay``: a rebuild equals incremental projection, survives kill -9, loses no listen."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import nats
import pytest

from projector.db import create_engine
from projector.replay import replay_sql
from projector.shadow import Shadow
from scrobbler.embedded_nats import EmbeddedNats
from scrobbler.settings import Settings
from tests.conftest import Stack, make_settings, mariadb_database, running_stack
from tests.integration.replay_support import (
    cli_env,
    listens_for,
    publish_raw,
    scrobbles_for,
    snapshot,
    sql_position,
    wait_position,
)


async def _replay(settings: Settings, **kwargs: object) -> object:
    nc = await nats.connect(settings.nats.url or "")
    try:
        return await replay_sql(nc.jetstream(timeout=10), settings, **kwargs)  # type: ignore[arg-type]
    finally:
        await nc.close()


async def _fill(stack: Stack) -> int:
    """Listens of several users, a duplicate, a user tombstone and a time-range tombstone."""
    c = stack.client
    for start in range(0, 900, 300):
        r = await c.post("/api/v1/scrobble", json=scrobbles_for(start, 300))
        assert r.status_code == 202, r.text
    assert (await c.post("/api/v1/scrobble", json=scrobbles_for(5, 1))).json()["duplicates"] == 1
    assert (await c.delete("/api/v1/listens", params={"user": "user3"})).status_code == 202
    r = await c.delete("/api/v1/listens", params={"from": 1_500_000_000, "to": 1_500_000_000 + 61 * 100})
    assert r.status_code == 202
    # Listens after the tombstones: user3 comes back with new plays.
    assert (await c.post("/api/v1/scrobble", json=scrobbles_for(900, 70))).status_code == 202
    return sum(1 for i in range(900) if i % 7 != 3 and i >= 100) + 70


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
async def db_dsn(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'scrobbler.db'}"
        return
    async with mariadb_database() as dsn:
        yield dsn


async def test_replay_equals_incremental_projection(
    tmp_path: Path, nats_server: EmbeddedNats, db_dsn: str
) -> None:
    settings = make_settings(tmp_path, nats_server.url, db_dsn)
    async with running_stack(settings) as stack:
        expected = await _fill(stack)
        assert await stack.wait_count(expected) == expected
        top_before = (await stack.client.get("/api/v1/listens/recent", params={"limit": 50})).json()
        incremental = await snapshot(db_dsn)

        result = await _replay(settings)
        assert result.switched  # type: ignore[attr-defined]
        assert await snapshot(db_dsn) == incremental
        assert await stack.count() == expected
        assert (await stack.client.get("/api/v1/listens/recent", params={"limit": 50})).json() == top_before
        # The live projector carries on in the new tables.
        r = await stack.client.post("/api/v1/scrobble", json=scrobbles_for(2000, 10))
        assert r.status_code == 202
        assert await stack.wait_count(expected + 10) == expected + 10
        live = create_engine(db_dsn)
        assert await Shadow(db_dsn).position(live) is None  # the shadow is gone
        await live.dispose()


async def test_ingest_during_replay_loses_nothing(tmp_path: Path, nats_server: EmbeddedNats) -> None:
    settings = make_settings(tmp_path, nats_server.url)
    await publish_raw(settings, listens_for(0, 20_000))  # type: ignore[arg-type]
    async with running_stack(settings) as stack:
        assert await stack.wait_count(20_000, timeout=60) == 20_000

        async def ingest() -> int:
            sent = 0
            for start in range(100_000, 100_000 + 40 * 50, 50):
                r = await stack.client.post("/api/v1/scrobble", json=scrobbles_for(start, 50))
                assert r.status_code == 202
                sent += 50
            return sent

        sender = asyncio.create_task(ingest())
        result = await _replay(settings, batch=1000)
        sent = await sender
        assert result.switched  # type: ignore[attr-defined]
        assert await stack.wait_count(20_000 + sent, timeout=30) == 20_000 + sent


def _replay_process(settings: Settings) -> subprocess.Popen[bytes]:
    env = cli_env(settings)
    return subprocess.Popen(
        [sys.executable, "-m", "scrobbler.cli", "replay", "--sql"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
async def test_kill_9_during_replay_then_resume(
    tmp_path: Path, nats_server: EmbeddedNats, db_dsn: str
) -> None:
    settings = make_settings(tmp_path, nats_server.url, db_dsn)
    total = 60_000
    last = await publish_raw(settings, listens_for(0, total))  # type: ignore[arg-type]
    async with running_stack(settings) as stack:
        assert await wait_position(db_dsn, last, timeout=120) == last
        incremental = await snapshot(db_dsn)
        shadow, live = Shadow(db_dsn), create_engine(db_dsn)
        proc = _replay_process(settings)
        try:
            deadline = asyncio.get_running_loop().time() + 60
            while not (await shadow.position(live) or 0) > 5000:
                assert proc.poll() is None, "replay ended before it could be killed"
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            reached = await shadow.position(live) or 0
            assert 0 < reached < last
            result = await _replay(settings)
        finally:
            if proc.poll() is None:
                proc.kill()
            await live.dispose()
        assert result.events <= last - reached  # type: ignore[attr-defined]
        assert await snapshot(db_dsn) == incremental
        assert await sql_position(db_dsn) == last
        assert await stack.count() == total


def _read(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


def _write(path: Path, text: str) -> None:
    path.write_text(text)


@pytest.mark.skipif(not Path("/proc/sys/kernel/random/boot_id").exists(), reason="needs Linux's boot id")
async def test_sqlite_shadow_left_by_an_earlier_boot_is_rebuilt(
    tmp_path: Path, nats_server: EmbeddedNats
) -> None:
    """The SQLite shadow is written without waiting for the disk: it is resumed after the replay
    was killed, and started again if the machine restarted (a power loss may have torn it)."""
    db = tmp_path / "scrobbler.db"
    dsn = f"sqlite+aiosqlite:///{db}"
    settings = make_settings(tmp_path, nats_server.url, dsn)
    last = await publish_raw(settings, listens_for(0, 2000))  # type: ignore[arg-type]
    first = await _replay(settings, switch=False)
    assert first.events == last  # type: ignore[attr-defined]
    marker = Path(f"{db}.replay.boot")
    assert _read(marker) == (_read(Path("/proc/sys/kernel/random/boot_id")) or "").strip()
    resumed = await _replay(settings, switch=False)
    assert resumed.events == 0  # type: ignore[attr-defined]

    _write(marker, "an-earlier-boot")
    again = await _replay(settings)
    assert again.events == last  # type: ignore[attr-defined]
    assert await sql_position(dsn) == last
    assert _read(marker) is None
    async with running_stack(settings) as stack:
        assert await stack.count() == 2000
