"""Two query-API processes, each with its own cube, answer the same statistics.

The second replica starts after the listens are in the stream: the first time its ``/readyz``
answers 200 its cube already holds all of them (it caught up before it reported ready).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from scrobbler.embedded_nats import EmbeddedNats, _set_parent_death_signal
from scrobbler.settings import Settings
from tests.conftest import free_port, make_settings, running_stack
from tests.integration.replay_support import cli_env, scrobbles_for

pytestmark = pytest.mark.slow

USERS = 9


class QueryReplica:
    """A ``python -m scrobbler.cli query-api`` process with its own cube file and port."""

    def __init__(self, settings: Settings, name: str) -> None:
        self.port = free_port()
        env = {
            **cli_env(settings),
            "SCROBBLER_DUCKDB_PATH": str(settings.data_dir / f"cube-{name}.duckdb"),
            "SCROBBLER_HOST": "127.0.0.1",
            "SCROBBLER_PORT": str(self.port),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "scrobbler.cli", "query-api"],
            env=env,
            preexec_fn=_set_parent_death_signal,
        )
        self.client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}", timeout=30)

    async def wait_ready(self, timeout: float = 40.0) -> None:
        """Poll ``/readyz`` until it answers 200 (the process may still be importing)."""
        deadline = asyncio.get_running_loop().time() + timeout
        last = ""
        while asyncio.get_running_loop().time() < deadline:
            assert self.process.poll() is None, f"query-api exited with {self.process.returncode}"
            try:
                r = await self.client.get("/readyz")
                if r.status_code == 200:
                    return
                last = r.text
            except httpx.TransportError as exc:
                last = repr(exc)
            await asyncio.sleep(0.05)
        raise AssertionError(f"query-api on {self.port} not ready in {timeout}s: {last}")

    async def stats(self) -> tuple[dict[str, Any], dict[str, int]]:
        """(KPIs of all time, every artist's listens) as this replica answers them."""
        kpis = await self.client.get("/api/v1/stats/kpis")
        kpis.raise_for_status()
        artists = await self.client.get("/api/v1/stats/artists", params={"page_size": 500})
        artists.raise_for_status()
        return kpis.json()["current"], {a["name"]: a["listens"] for a in artists.json()["items"]}

    async def wait_listens(self, n: int, timeout: float = 30.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        seen = -1
        while asyncio.get_running_loop().time() < deadline:
            seen = (await self.stats())[0]["listens"]
            if seen == n:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"replica on {self.port} has {seen} listens, not {n}")

    async def close(self) -> None:
        await self.client.aclose()
        self.process.terminate()
        try:
            await asyncio.to_thread(self.process.wait, 15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            await asyncio.to_thread(self.process.wait)


def expected_stats(bodies: list[dict[str, Any]]) -> tuple[dict[str, int], dict[str, int]]:
    """What every replica must answer, computed from the request bodies alone."""
    artists = Counter(a["name"] for b in bodies for a in b["artists"])
    genres = {g for b in bodies for g in b["genres"]}
    kpis = {
        "listens": len(bodies),
        "listening_secs": sum(b["track"]["duration_secs"] for b in bodies),
        "artists": len(artists),
        "genres": len(genres),
    }
    return kpis, dict(artists)


async def _post(client: httpx.AsyncClient, bodies: list[dict[str, Any]]) -> None:
    for start in range(0, len(bodies), 500):
        r = await client.post("/api/v1/scrobble", json=bodies[start : start + 500])
        assert r.status_code == 202, r.text


async def test_two_query_replicas_answer_the_same_stats(tmp_path: Path, nats_server: EmbeddedNats) -> None:
    settings = make_settings(tmp_path, nats_server.url)
    first = scrobbles_for(0, 3000, users=USERS)
    more = scrobbles_for(3000, 1000, users=USERS)
    replicas: list[QueryReplica] = []
    try:
        async with running_stack(settings, projector=False) as stack:
            a = QueryReplica(settings, "a")
            replicas.append(a)
            await a.wait_ready()
            await _post(stack.client, first)

            # B starts with the listens already in the stream: ready means caught up, at once.
            b = QueryReplica(settings, "b")
            replicas.append(b)
            await b.wait_ready()
            kpis_b, artists_b = await b.stats()
            want_kpis, want_artists = expected_stats(first)
            assert {k: kpis_b[k] for k in want_kpis} == want_kpis
            assert artists_b == want_artists

            # New listens reach both cubes; both answer exactly the same.
            await _post(stack.client, more)
            want_kpis, want_artists = expected_stats(first + more)
            for replica in replicas:
                await replica.wait_listens(want_kpis["listens"])
            (kpis_a, artists_a), (kpis_b, artists_b) = [await r.stats() for r in replicas]
            assert kpis_a == kpis_b
            assert {k: kpis_a[k] for k in want_kpis} == want_kpis
            assert artists_a == artists_b == want_artists
    finally:
        for replica in replicas:
            await replica.close()
