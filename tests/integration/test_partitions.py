"""Three projector processes, each with a partition of the users, against one stream: exact counts."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from schemas.subjects import user_bucket
from scrobbler.embedded_nats import EmbeddedNats
from scrobbler.settings import Settings
from tests.conftest import make_settings, mariadb_database, running_stack
from tests.integration.replay_support import cli_env, scrobbles_for, sql_position, wait_position

pytestmark = pytest.mark.slow

USERS = 40


def _projectors(settings: Settings, n: int) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(
            [sys.executable, "-m", "scrobbler.cli", "projector", "--no-http", "--partition", f"{i}/{n}"],
            env=cli_env(settings),
        )
        for i in range(n)
    ]


async def _check_three_partitions(settings: Settings) -> None:
    procs = _projectors(settings, 3)
    try:
        async with running_stack(settings, projector=False) as stack:
            bodies = scrobbles_for(0, 3000, users=USERS)
            for start in range(0, len(bodies), 500):
                r = await stack.client.post("/api/v1/scrobble", json=bodies[start : start + 500])
                assert r.status_code == 202, r.text
            r = await stack.client.delete("/api/v1/listens", params={"user": "user5"})
            assert r.status_code == 202
            expected = Counter(b["user"] for b in bodies if b["user"] != "user5")
            # Every partition got its share of users (the hash spreads 40 users over 3 partitions).
            assert {user_bucket(u) % 3 for u in expected} == {0, 1, 2}
            assert await stack.wait_count(sum(expected.values()), timeout=60) == sum(expected.values())
            for user in ("user0", "user1", "user5", "user39"):
                assert await stack.count(user) == expected.get(user, 0)
            # Each partition has its own checkpoint, at the last event of its users (sequence = index + 1;
            # the tombstone, 3001, is on user5's subject).
            for i in range(3):
                mine = [n + 1 for n, b in enumerate(bodies) if user_bucket(str(b["user"])) % 3 == i]
                last = 3001 if user_bucket("user5") % 3 == i else max(mine)
                assert await wait_position(settings.db.dsn, last, name=f"sql-p{i}of3") == last
            assert await sql_position(settings.db.dsn, "sql") == 0
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            await asyncio.to_thread(p.wait, 15)


async def test_three_partitioned_projectors_sqlite(tmp_path: Path, nats_server: EmbeddedNats) -> None:
    await _check_three_partitions(make_settings(tmp_path, nats_server.url))


@pytest.mark.mariadb
async def test_three_partitioned_projectors_mariadb(tmp_path: Path, nats_server: EmbeddedNats) -> None:
    async with mariadb_database() as dsn:
        await _check_three_partitions(make_settings(tmp_path, nats_server.url, dsn))
