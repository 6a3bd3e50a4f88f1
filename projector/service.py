"""The projector process: migrate, then keep the SQL read model current with the stream."""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from projector.db import create_engine, create_writer
from projector.lb_export import run_lb_sync
from projector.migrate import migrate
from projector.runner import Projection
from projector.sql_sink import SqlSink
from schemas.subjects import partition_filters
from scrobbler.settings import Settings
from scrobbler.stream import StreamClient

__all__ = ["projection_name", "run_projector"]

log = structlog.get_logger(__name__)


def projection_name(index: int, count: int) -> str:
    """Checkpoint row and durable consumer name of SQL partition ``index`` of ``count``."""
    return "sql" if count == 1 else f"sql-p{index}of{count}"


async def run_projector(
    settings: Settings,
    nats_url: str,
    stop: asyncio.Event,
    *,
    partition: tuple[int, int] = (0, 1),
    started: asyncio.Event | None = None,
) -> None:
    """Run until ``stop`` is set."""
    engine = create_engine(settings.db.dsn)
    sink = SqlSink(engine, projection_name(*partition), writer=create_writer(settings.db.dsn))
    client = StreamClient(nats_url, settings.nats, name=f"scrobbler-projector-{partition[0]}of{partition[1]}")
    try:
        await migrate(engine)
        await client.connect()
        assert client.js is not None
        projection = Projection(
            js=client.js,
            stream=settings.nats.stream,
            sink=sink,
            filter_subjects=partition_filters(settings.nats.subject_prefix, *partition),
        )
        if started is not None:
            started.set()
        # Continuous ListenBrainz sync (off unless configured) rides along with partition 0.
        sync = None if partition[0] else asyncio.create_task(run_lb_sync(settings, client.js, engine, stop))
        try:
            await projection.run(stop)
        finally:
            if sync is not None:
                sync.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sync
    finally:
        await client.close()
        await sink.close()
        await engine.dispose()
