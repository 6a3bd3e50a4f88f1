"""Fixtures: a real nats-server per test session, real SQLite and MariaDB, the real app over HTTP.

Isolation: every test gets its own stream (and subject prefix) on the session's server, its own
SQLite file or MariaDB database, and its own DuckDB file, so tests run in parallel safely.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from projector.db import create_engine
from projector.migrate import migrate
from projector.service import run_projector
from scrobbler.app import create_app
from scrobbler.embedded_nats import EmbeddedNats, start_embedded
from scrobbler.settings import DbSettings, HttpSettings, NatsSettings, Settings

REQUIRE_SERVICES = os.environ.get("SCROBBLER_TEST_REQUIRE_SERVICES") == "1"
MARIADB_DSN = os.environ.get("SCROBBLER_TEST_MARIADB_DSN", "mysql+asyncmy://root@127.0.0.1:3306/test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    """A real nats-server (from the wheel) with JetStream, on a free loopback port."""
    server = start_embedded(tmp_path_factory.mktemp("nats"), sync_interval="1s")
    yield server
    server.stop()


async def _mariadb_problem() -> str | None:
    engine = create_async_engine(MARIADB_DSN)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return None
    except Exception as exc:  # noqa: BLE001  (any failure means: not reachable)
        return f"{type(exc).__name__}: {exc}"
    finally:
        await engine.dispose()


async def require_mariadb() -> None:
    """Skip (or, with SCROBBLER_TEST_REQUIRE_SERVICES=1, fail) when MariaDB cannot be reached."""
    problem = await _mariadb_problem()
    if problem is None:
        return
    message = f"MariaDB at {MARIADB_DSN} unreachable ({problem}); set SCROBBLER_TEST_MARIADB_DSN"
    if REQUIRE_SERVICES:
        pytest.fail(message)
    pytest.skip(message)


@contextlib.asynccontextmanager
async def mariadb_database() -> AsyncIterator[str]:
    """A fresh MariaDB database for one test, dropped afterwards; yields its DSN (skips if unreachable)."""
    await require_mariadb()
    name = f"scrobbler_t_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(MARIADB_DSN)
    async with admin.begin() as conn:
        await conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"))
    base = MARIADB_DSN.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        async with admin.begin() as conn:
            await conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        await admin.dispose()


def make_settings(tmp_path: Path, nats_url: str, dsn: str | None = None, **http: Any) -> Settings:
    """Settings for one isolated test: own stream, subjects, SQL database and cube file."""
    tag = uuid.uuid4().hex[:10]
    return Settings(
        data_dir=tmp_path,
        nats=NatsSettings(url=nats_url, stream=f"T{tag}", subject_prefix=f"t{tag}", publish_timeout_s=2.0),
        db=DbSettings(
            dsn=dsn or f"sqlite+aiosqlite:///{tmp_path / 'scrobbler.db'}",
            duckdb_path=tmp_path / "cube.duckdb",
        ),
        http=HttpSettings(host="127.0.0.1", port=free_port(), **http),
    )


@dataclass
class Stack:
    """The product running in this test's event loop, reachable over real HTTP."""

    settings: Settings
    base_url: str
    client: httpx.AsyncClient
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    stops: list[asyncio.Event] = field(default_factory=list)

    async def count(self, user: str | None = None) -> int:
        params = {"user": user} if user else {}
        r = await self.client.get("/api/v1/listens/count", params=params)
        r.raise_for_status()
        return int(r.json()["count"])

    async def wait_count(self, expected: int, user: str | None = None, timeout: float = 15.0) -> int:
        """Wait until the SQL read model shows ``expected`` listens (polls the checkpointed view)."""
        deadline = asyncio.get_running_loop().time() + timeout
        n = await self.count(user)
        while n != expected and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
            n = await self.count(user)
        return n


@contextlib.asynccontextmanager
async def running_stack(
    settings: Settings,
    *,
    projector: bool = True,
    extensions: list[Any] | None = None,
    extra_routes: list[Any] | None = None,
) -> AsyncIterator[Stack]:
    """Migrate, start the projector and serve ingest + query routes on a free port."""
    engine = create_engine(settings.db.dsn)
    await migrate(engine)
    await engine.dispose()
    nats_url = settings.nats.url or ""
    app = create_app(settings, nats_url, extensions=extensions, extra_routes=extra_routes)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=settings.http.port,
            log_config=None,
            access_log=False,
            lifespan="on",
            loop="asyncio",
        )
    )
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    serve_task = asyncio.create_task(server.serve())
    stack = Stack(
        settings=settings,
        base_url=f"http://127.0.0.1:{settings.http.port}",
        client=httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.http.port}", timeout=30),
    )
    while not server.started:
        if serve_task.done():
            serve_task.result()
        await asyncio.sleep(0.02)
    # Ready means the stream exists (the app declares it once connected).
    for _ in range(500):
        if (await stack.client.get("/readyz")).status_code == 200:
            break
        await asyncio.sleep(0.02)
    if projector:
        stop = asyncio.Event()
        stack.stops.append(stop)
        stack.tasks.append(asyncio.create_task(run_projector(settings, nats_url, stop)))
    try:
        yield stack
    finally:
        for stop in stack.stops:
            stop.set()
        for task in stack.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 10)
        await stack.client.aclose()
        server.should_exit = True
        await serve_task


@pytest.fixture
async def stack(tmp_path: Path, nats_server: EmbeddedNats) -> AsyncIterator[Stack]:
    """The whole product on SQLite."""
    async with running_stack(make_settings(tmp_path, nats_server.url)) as s:
        yield s


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
async def any_db_stack(
    request: pytest.FixtureRequest, tmp_path: Path, nats_server: EmbeddedNats
) -> AsyncIterator[Stack]:
    """The whole product on SQLite, then on MariaDB."""
    if request.param == "sqlite":
        async with running_stack(make_settings(tmp_path, nats_server.url)) as s:
            yield s
        return
    await require_mariadb()
    async with mariadb_database() as dsn, running_stack(make_settings(tmp_path, nats_server.url, dsn)) as s:
        yield s


SEED_SCROBBLE: dict[str, Any] = {
    "user": "teun",
    "source": "lms",
    "listened_at": "2024-01-01T12:00:00Z",
    "position_secs": 148,
    "duration_secs": 312,
    "track": {"title": "My Track", "album": "My Album", "album_year": 2024, "track_no": 3, "disc_no": 1},
    "artists": [{"name": "Main Artist", "role": "primary"}, {"name": "DJ X", "role": "remixer"}],
    "genres": ["Uptempo Hardcore", "Hardcore"],
}
"""The example scrobble of the original README."""
