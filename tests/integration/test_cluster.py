"""A 3-node NATS cluster, an R3 stream, ingest and 3 partitioned projectors as separate processes.

One NATS node (the stream's leader) is killed with SIGKILL while a client posts batches, retrying
on 503 as a real client does. Every acknowledged listen must then be in the stream once and in
the SQL read model once, per user exactly the acknowledged set.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
import structlog.testing
from sqlalchemy import func, select

from projector.db import create_engine
from projector.migrate import migrate
from projector.runner import Projection
from projector.service import run_projector
from projector.sql_sink import SqlSink
from projector.tables import listens, projection_checkpoint
from schemas.events import encode_event
from schemas.subjects import stream_subjects, user_bucket, user_subject
from scrobbler.embedded_nats import _set_parent_death_signal
from scrobbler.settings import NatsSettings, Settings
from scrobbler.stream import StreamClient, ensure_stream
from tests.cluster import Cluster, running_cluster
from tests.conftest import make_settings, mariadb_database, running_stack
from tests.integration.replay_support import cli_env, listens_for, scrobbles_for, snapshot, wait_position

pytestmark = pytest.mark.slow

USERS = 30
BATCH = 50


@dataclasses.dataclass
class Load:
    """A client posting distinct batches until told to stop, each retried until it is accepted."""

    client: httpx.AsyncClient
    acked: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    batches: int = 0
    unavailable: int = 0
    refused: int = 0
    last_ack: float = 0.0
    stop: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    async def _post_until_accepted(self, batch: list[dict[str, Any]]) -> None:
        while True:
            try:
                r = await self.client.post("/api/v1/scrobble", json=batch)
            except httpx.TransportError:
                self.refused += 1
                await asyncio.sleep(0.1)
                continue
            if r.status_code == 202:
                return
            assert r.status_code == 503, r.text
            self.unavailable += 1
            await asyncio.sleep(0.1)

    async def run(self) -> None:
        start = 0
        while not self.stop.is_set():
            batch = scrobbles_for(start, BATCH, users=USERS)
            start += BATCH
            await self._post_until_accepted(batch)
            self.acked.extend(batch)
            self.batches += 1
            self.last_ack = time.monotonic()

    async def wait_batches(self, n: int, timeout: float = 40.0) -> None:
        deadline = time.monotonic() + timeout
        while self.batches < n:
            assert time.monotonic() < deadline, f"only {self.batches} batches accepted, wanted {n}"
            await asyncio.sleep(0.02)


def _spawn(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "scrobbler.cli", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_set_parent_death_signal,
        )


def _tails(logs: list[Path], lines: int = 15) -> str:
    """The end of each process log, for a failure message."""
    return "\n".join(f"--- {p.name}\n" + "\n".join(p.read_text().splitlines()[-lines:]) for p in logs)


async def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            await asyncio.to_thread(p.wait, 15)
        except subprocess.TimeoutExpired:
            p.kill()
            await asyncio.to_thread(p.wait)


async def _wait_ready(
    client: httpx.AsyncClient, proc: subprocess.Popen[bytes], timeout: float = 40.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"ingest exited with {proc.returncode}"
        try:
            if (await client.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError(f"ingest not ready in {timeout}s")


async def _sql_listens(dsn: str) -> dict[str, list[int]]:
    """Every listen in the read model: user -> sorted epoch seconds."""
    engine = create_engine(dsn)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(listens.c.user_name, listens.c.listened_at))).all()
    finally:
        await engine.dispose()
    out: dict[str, list[int]] = defaultdict(list)
    for user, at in rows:
        out[user].append(int(at.replace(tzinfo=UTC).timestamp()))
    return {u: sorted(v) for u, v in out.items()}


async def _checkpoints(dsn: str) -> dict[str, int]:
    engine = create_engine(dsn)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(select(projection_checkpoint.c.name, projection_checkpoint.c.stream_seq))
            ).all()
    finally:
        await engine.dispose()
    return {name: int(seq) for name, seq in rows}


async def _stream_info(cluster: Cluster, stream: str) -> Any:
    """The stream's info, asked through the nodes still alive."""
    nc = await nats.connect(servers=[n.url for n in cluster.nodes if n.alive], connect_timeout=2)
    try:
        return await nc.jetstream(timeout=5).stream_info(stream)
    finally:
        await nc.close()


def expected_listens(bodies: list[dict[str, Any]]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = defaultdict(list)
    for b in bodies:
        out[b["user"]].append(int(b["listened_at"]))
    return {u: sorted(v) for u, v in out.items()}


async def _kill_leader_under_load(tmp_path: Path, cluster: Cluster, settings: Settings) -> None:
    engine = create_engine(settings.db.dsn)
    await migrate(engine)
    await engine.dispose()
    env = {
        **cli_env(settings),
        "SCROBBLER_NATS_REPLICAS": "3",
        "SCROBBLER_NATS_PUBLISH_TIMEOUT": "2",
        "SCROBBLER_HOST": "127.0.0.1",
        "SCROBBLER_PORT": str(settings.http.port),
    }
    logs = [tmp_path / "ingest.log", *(tmp_path / f"projector-{i}.log" for i in range(3))]
    ingest = _spawn(env, logs[0], "ingest")
    projectors = [
        _spawn(env, logs[i + 1], "projector", "--no-http", "--partition", f"{i}/3") for i in range(3)
    ]
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.http.port}", timeout=30)
    load = Load(client)
    loading: asyncio.Task[None] | None = None
    try:
        await _wait_ready(client, ingest)
        info = await _stream_info(cluster, settings.nats.stream)
        deadline = time.monotonic() + 20
        while not info.cluster.leader and time.monotonic() < deadline:  # a new stream elects its leader
            await asyncio.sleep(0.05)
            info = await _stream_info(cluster, settings.nats.stream)
        assert info.config.num_replicas == 3
        assert {info.cluster.leader, *(r.name for r in info.cluster.replicas)} == {"n0", "n1", "n2"}

        loading = asyncio.create_task(load.run())
        await load.wait_batches(20)
        victim = cluster.node(info.cluster.leader)
        killed_at = time.monotonic()
        victim.kill()
        before = load.batches
        await load.wait_batches(before + 1)
        failover = load.last_ack - killed_at
        await load.wait_batches(before + 40)
        load.stop.set()
        await loading

        info = await _stream_info(cluster, settings.nats.stream)
        assert info.cluster.leader != victim.name
        # Exactly once in the stream: retried batches were dropped as duplicates by Nats-Msg-Id.
        assert info.state.messages == len(load.acked)
        want = expected_listens(load.acked)
        deadline = time.monotonic() + 40
        have = await _sql_listens(settings.db.dsn)
        while have != want and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            have = await _sql_listens(settings.db.dsn)
        assert {u: len(v) for u, v in have.items()} == {u: len(v) for u, v in want.items()}, _tails(logs)
        assert have == want
        assert all(p.poll() is None for p in projectors), _tails(logs)
        checkpoints = await _checkpoints(settings.db.dsn)
        assert set(checkpoints) >= {"sql-p0of3", "sql-p1of3", "sql-p2of3"}
        assert max(checkpoints.values()) == info.state.last_seq
        print(
            f"cluster: {len(load.acked)} listens acknowledged in {load.batches} batches, "
            f"{load.unavailable} answers 503, {load.refused} refused connections, "
            f"first write accepted {failover:.1f}s after killing the stream leader {victim.name}"
        )
    finally:
        load.stop.set()
        if loading is not None:
            loading.cancel()
            with contextlib.suppress(asyncio.CancelledError, AssertionError):
                await loading
        await client.aclose()
        await _stop([ingest, *projectors])


@contextlib.asynccontextmanager
async def _cluster_settings(tmp_path: Path, db: str) -> AsyncIterator[tuple[Cluster, Settings]]:
    async with running_cluster(tmp_path / "nats") as cluster:
        if db == "sqlite":
            settings = make_settings(tmp_path, cluster.url)
            yield cluster, settings.replace(nats=dataclasses.replace(settings.nats, replicas=3))
            return
        async with mariadb_database() as dsn:
            settings = make_settings(tmp_path, cluster.url, dsn)
            yield cluster, settings.replace(nats=dataclasses.replace(settings.nats, replicas=3))


@pytest.mark.parametrize("db", ["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
async def test_stream_leader_killed_under_load_loses_and_duplicates_nothing(tmp_path: Path, db: str) -> None:
    async with _cluster_settings(tmp_path, db) as (cluster, settings):
        await _kill_leader_under_load(tmp_path, cluster, settings)


async def test_stream_replicas_and_placement_follow_the_settings(tmp_path: Path) -> None:
    async with running_cluster(tmp_path / "nats") as cluster:
        nc = await nats.connect(servers=cluster.url.split(","))
        try:
            js = nc.jetstream(timeout=5)
            r3 = NatsSettings(url=cluster.url, stream="R3", subject_prefix="r3", replicas=3)
            for _ in range(2):  # idempotent: the second call changes nothing
                await ensure_stream(js, r3)
            info = await js.stream_info("R3")
            assert info.config.num_replicas == 3
            assert info.cluster is not None
            assert {info.cluster.leader, *(r.name for r in info.cluster.replicas or [])} == {"n0", "n1", "n2"}

            # Placement: only servers tagged node:n2 may hold the stream.
            from_env = Settings.from_env({"SCROBBLER_NATS_PLACEMENT_TAGS": "node:n2, ssd"}).nats
            assert from_env.placement_tags == ("node:n2", "ssd")
            pinned = NatsSettings(
                url=cluster.url,
                stream="PINNED",
                subject_prefix="pinned",
                replicas=1,
                placement_tags=("node:n2",),
            )
            await ensure_stream(js, pinned)
            info = await js.stream_info("PINNED")
            assert info.cluster is not None
            assert info.cluster.leader == "n2"
            assert info.config.placement is not None
            assert info.config.placement.tags == ["node:n2"]

            # Moving and scaling at once: JetStream moves first; a later start (once moved) scales.
            moved = dataclasses.replace(pinned, replicas=3, placement_tags=("scrobbler",))
            await ensure_stream(js, moved)
            info = await js.stream_info("PINNED")
            assert info.config.placement is not None
            assert info.config.placement.tags == ["scrobbler"]
            deadline = time.monotonic() + 60
            while info.config.num_replicas != 3 and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                # While the stream moves, its leader may not answer within the API timeout on a
                # loaded machine: that is the transient a restarting process retries as well.
                with contextlib.suppress(nats.errors.TimeoutError):
                    await ensure_stream(js, moved)
                    info = await js.stream_info("PINNED")
            assert info.config.num_replicas == 3
        finally:
            await nc.close()


async def _until_logged(
    logs: list[dict[str, Any]], event: str, task: asyncio.Task[Any], times: int = 2
) -> None:
    """Wait until ``event`` was logged ``times`` times while ``task`` is still waiting."""
    deadline = time.monotonic() + 20
    while sum(e["event"] == event for e in logs) < times:
        assert time.monotonic() < deadline, logs
        assert not task.done(), task
        await asyncio.sleep(0.05)
    assert not task.done()


async def test_processes_started_without_quorum_wait_for_it(tmp_path: Path) -> None:
    """Two of three nodes down: declaring the R3 stream, and creating a projection's consumer,
    wait (no crash) until the nodes are back."""
    async with running_cluster(tmp_path / "nats") as cluster:
        for node in cluster.nodes[1:]:
            node.kill()
        settings = NatsSettings(
            url=cluster.url, stream="Q", subject_prefix="q", replicas=3, publish_timeout_s=0.5
        )
        client = StreamClient(cluster.url, settings)
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'q.db'}")
        await migrate(engine)
        stop = asyncio.Event()
        tasks: list[asyncio.Task[Any]] = []
        try:
            with structlog.testing.capture_logs() as logs:
                tasks.append(asyncio.create_task(client.connect()))
                await _until_logged(logs, "jetstream not available, retrying", tasks[0])
                for node in cluster.nodes[1:]:
                    node.restart()
                await asyncio.wait_for(tasks[0], 30)
                assert client.js is not None
                assert (await client.js.stream_info("Q")).config.num_replicas == 3
                events = listens_for(0, 5)
                for ev in events:
                    # Right after the restart the stream's interest may not have reached the node we
                    # are connected to yet ("no responders"): retry, as any client of a 503 does.
                    for attempt in range(100):
                        try:
                            await client.js.publish(
                                user_subject("q", ev.user),
                                encode_event(ev),
                                headers={"Nats-Msg-Id": ev.event_id},
                            )
                            break
                        except (nats.js.errors.NoStreamResponseError, nats.errors.TimeoutError):
                            assert attempt < 99, "the stream never answered after the restart"
                            await asyncio.sleep(0.1)

                for node in cluster.nodes[1:]:
                    node.kill()
                projection = Projection(
                    js=client.js,
                    stream="Q",
                    sink=SqlSink(engine, "sql"),
                    filter_subjects=stream_subjects("q"),
                )
                tasks.append(asyncio.create_task(projection.run(stop)))
                await _until_logged(logs, "consumer not created, retrying", tasks[1])
                for node in cluster.nodes[1:]:
                    node.restart()
                await projection.wait_for(len(events), timeout=40)
            async with engine.connect() as conn:
                assert (await conn.execute(select(func.count()).select_from(listens))).scalar_one() == 5
        finally:
            stop.set()
            for task in reversed(tasks):
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    await asyncio.wait_for(task, 10)
            await client.close()
            await engine.dispose()


async def _partitions(settings: Settings, count: int, users_by_seq: list[str]) -> None:
    """Run ``count`` partitions in this loop until each checkpoint reaches the last event it reads
    (``users_by_seq[s - 1]`` is the user of the event at stream sequence ``s``)."""
    stops: list[asyncio.Event] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        for i in range(count):
            # One after the other: each migrates first, and Alembic's context is process-global.
            stops.append(asyncio.Event())
            started = asyncio.Event()
            run = run_projector(
                settings, settings.nats.url or "", stops[-1], partition=(i, count), started=started
            )
            tasks.append(asyncio.create_task(run))
            await asyncio.wait_for(started.wait(), 20)
        for i in range(count):
            last = max(n + 1 for n, u in enumerate(users_by_seq) if user_bucket(u) % count == i)
            name = "sql" if count == 1 else f"sql-p{i}of{count}"
            assert await wait_position(settings.db.dsn, last, name=name, timeout=40) == last
    finally:
        for stop in stops:
            stop.set()
        for task in tasks:
            await asyncio.wait_for(task, 15)


async def test_changing_the_number_of_partitions_keeps_the_read_model(
    tmp_path: Path, nats_server: Any
) -> None:
    """2 partitions, then 3, then 1 (each started after the previous stopped): the same tables each time."""
    settings = make_settings(tmp_path, nats_server.url)
    bodies = scrobbles_for(0, 1500, users=USERS)
    later = scrobbles_for(1500, 100, users=USERS)
    async with running_stack(settings, projector=False) as stack:
        for start in range(0, len(bodies), 500):
            r = await stack.client.post("/api/v1/scrobble", json=bodies[start : start + 500])
            assert r.status_code == 202, r.text
        r = await stack.client.delete("/api/v1/listens", params={"user": "user5"})
        assert r.status_code == 202, r.text
        r = await stack.client.post("/api/v1/scrobble", json=later)
        assert r.status_code == 202, r.text
    users_by_seq = [b["user"] for b in bodies] + ["user5"] + [b["user"] for b in later]

    await _partitions(settings, 2, users_by_seq)
    first = await snapshot(settings.db.dsn)
    want = expected_listens([b for b in bodies if b["user"] != "user5"] + later)
    assert await _sql_listens(settings.db.dsn) == want

    def without_checkpoints(snap: dict[str, list[Any]]) -> dict[str, list[Any]]:
        return {t: rows for t, rows in snap.items() if t != "projection_checkpoint"}

    for count in (3, 1):
        await _partitions(settings, count, users_by_seq)
        assert without_checkpoints(await snapshot(settings.db.dsn)) == without_checkpoints(first)
