"""Running processes: an HTTP app under uvicorn, the projector, and everything at once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import structlog
import uvicorn
from litestar import Litestar

from projector.db import create_engine
from projector.migrate import migrate
from projector.service import run_projector
from scrobbler.embedded_nats import _set_parent_death_signal
from scrobbler.gc_tuning import HTTP, Tuning, tune
from scrobbler.http import exception_handlers, health_routes
from scrobbler.settings import Settings

__all__ = ["migrate_now", "serve_http", "serve_projector", "spawn_projector"]

log = structlog.get_logger(__name__)


def serve_http(app: Litestar, settings: Settings, *, tuning: Tuning = HTTP) -> None:
    """Serve ``app`` with uvicorn (uvloop + httptools) until SIGINT/SIGTERM.

    ``tuning``: the collector's and the GIL's settings (:mod:`scrobbler.gc_tuning`); a process
    that also folds the cube passes ``FOLD``.
    """
    config = uvicorn.Config(
        app,
        host=settings.http.host,
        port=settings.http.port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        lifespan="on",
        backlog=2048,
        timeout_graceful_shutdown=10,
    )
    # Everything built so far (modules, the app, its routes) lives as long as the process: frozen,
    # the collector stops re-scanning it. Its full collections had made p99 latency 10x the median
    # (78 ms against 7 ms at 6,700 req/s); frozen with a larger young generation, 9 ms at 10,000.
    tune(tuning)
    uvicorn.Server(config).run()


def projector_health_app(started: asyncio.Event, work: asyncio.Task[None]) -> Litestar:
    """``/healthz``, ``/readyz`` (migrated, consuming, not stopped) and ``/metrics`` of a projector."""

    async def projecting() -> None:
        if work.done():
            raise RuntimeError("the projection stopped; see the log")
        if not started.is_set():
            raise RuntimeError("migrating the schema or connecting to the stream")

    return Litestar(
        route_handlers=health_routes({"projection": projecting}),
        exception_handlers=exception_handlers,
        logging_config=None,
        openapi_config=None,
    )


def serve_projector(
    settings: Settings, nats_url: str, partition: tuple[int, int], *, http: bool = True
) -> None:
    """Run the projector until SIGINT/SIGTERM; with ``http``, its health and metrics on the HTTP port."""

    async def main() -> None:
        stop = asyncio.Event()
        started = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        work = asyncio.create_task(
            run_projector(settings, nats_url, stop, partition=partition, started=started)
        )
        server = None
        if http:
            server = uvicorn.Server(
                uvicorn.Config(
                    projector_health_app(started, work),
                    host=settings.http.host,
                    port=settings.http.port,
                    log_config=None,
                    access_log=False,
                    lifespan="off",
                )
            )
            serving = asyncio.create_task(server.serve())
        try:
            await work
        finally:
            if server is not None:
                server.should_exit = True
                await serving

    import uvloop

    tune(HTTP)
    uvloop.run(main())


def migrate_now(settings: Settings) -> None:
    """Bring the SQL schema up to date (before starting processes that read it)."""

    async def main() -> None:
        engine = create_engine(settings.db.dsn)
        try:
            await migrate(engine)
        finally:
            await engine.dispose()

    asyncio.run(main())


@contextlib.contextmanager
def spawn_projector(nats_url: str, partition: tuple[int, int] = (0, 1)) -> Iterator[subprocess.Popen[bytes]]:
    """A ``scrobbler projector`` child on the other core, stopped with us (even on kill -9)."""
    env = {**os.environ, "SCROBBLER_NATS_URL": nats_url}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scrobbler.cli",
            "projector",
            "--partition",
            f"{partition[0]}/{partition[1]}",
            "--no-http",  # the all-in-one process serves HTTP on the port itself
        ],
        env=env,
        preexec_fn=_set_parent_death_signal,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
