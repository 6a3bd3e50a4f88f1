"""Runs import/export jobs as asyncio tasks in the ingest process, and resumes them after a restart.

A job's state lives in the stream (JobUpdated events) and, folded, in the SQL ``jobs`` table. On
start-up the runner waits for the SQL projector to catch up with the stream, then resumes every
job whose latest state is ``running`` from the cursor in its progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec
import nats.errors
import nats.js.errors
import structlog
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.directory import Directory
from ingest.export.oneshot import KIND as EXPORT_KIND
from ingest.export.oneshot import run_lb_export
from ingest.importers.listenbrainz import ListenBrainzError
from ingest.jobs.context import JobContext
from ingest.jobs.file_import import KIND as FILE_KIND
from ingest.jobs.file_import import run_file_import
from ingest.jobs.lb_import import KIND as LB_KIND
from ingest.jobs.lb_import import run_lb_import
from ingest.jobs.progress import Progress
from ingest.publish import Publisher
from projector.tables import jobs, projection_checkpoint
from scrobbler.settings import Settings
from scrobbler.stream import StreamClient

__all__ = ["JOB_KINDS", "JobRunner"]

log = structlog.get_logger(__name__)

JobFn = Callable[[JobContext], Awaitable[None]]
JOB_KINDS: dict[str, JobFn] = {LB_KIND: run_lb_import, FILE_KIND: run_file_import, EXPORT_KIND: run_lb_export}

_JOB_FAILURES = (ListenBrainzError, OSError, ValueError, KeyError, httpx.HTTPError, SQLAlchemyError)


@dataclass
class JobRunner:
    """The jobs of this process: start, resume, wait for, cancel."""

    settings: Settings
    publisher: Publisher
    directory: Directory
    engine: AsyncEngine
    http: httpx.AsyncClient
    enqueue_enrichment: Callable[[Sequence[Any]], int] | None = None
    on_progress: Callable[[JobContext], None] | None = None
    contexts: dict[str, JobContext] = field(default_factory=dict)
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    def _context(self, job_id: str, kind: str, user: str | None, progress: Progress) -> JobContext:
        return JobContext(
            job_id=job_id,
            kind=kind,
            user=user,
            progress=progress,
            settings=self.settings,
            publisher=self.publisher,
            directory=self.directory,
            http=self.http,
            engine=self.engine,
            enqueue_enrichment=self.enqueue_enrichment,
            on_progress=self.on_progress,
        )

    async def start(
        self, kind: str, user: str | None, params: dict[str, Any], secrets: dict[str, str] | None = None
    ) -> JobContext:
        """Record the job as running (a JobUpdated event), then run it in the background."""
        ctx = self._context(uuid.uuid4().hex, kind, user, Progress(params=params))
        ctx.secrets.update(secrets or {})
        await ctx.report("running")
        self._spawn(ctx)
        return ctx

    def _spawn(self, ctx: JobContext) -> None:
        self.contexts[ctx.job_id] = ctx
        self.tasks[ctx.job_id] = asyncio.create_task(self._run(ctx), name=f"job-{ctx.job_id}")

    async def _run(self, ctx: JobContext) -> None:
        log.info("job started", job_id=ctx.job_id, kind=ctx.kind, cursor=ctx.progress.cursor)
        try:
            await JOB_KINDS[ctx.kind](ctx)
        except _JOB_FAILURES as exc:
            log.warning("job failed", job_id=ctx.job_id, kind=ctx.kind, error=str(exc))
            await ctx.report("failed", error=f"{type(exc).__name__}: {exc}")
            return
        await ctx.report("done")
        log.info("job done", job_id=ctx.job_id, kind=ctx.kind, progress=ctx.progress.to_dict())

    async def wait(self, job_id: str, timeout: float | None = None) -> JobContext:
        """The job's context once it finished (or when ``timeout`` passed)."""
        task = self.tasks[job_id]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), timeout)
        return self.contexts[job_id]

    async def _caught_up(self, stream: StreamClient, timeout: float) -> None:
        """Wait (bounded) until the SQL projector has applied every event in the stream now."""
        await stream.wait_ready(timeout)
        assert stream.js is not None
        try:
            last = (await stream.js.stream_info(self.settings.nats.stream)).state.last_seq
        except (nats.errors.Error, nats.js.errors.Error, TimeoutError):
            return
        deadline = time.monotonic() + timeout
        stmt = select(func.max(projection_checkpoint.c.stream_seq)).where(
            projection_checkpoint.c.name.like("sql%")
        )
        while time.monotonic() < deadline:
            with contextlib.suppress(SQLAlchemyError):
                async with self.engine.connect() as conn:
                    if int((await conn.execute(stmt)).scalar() or 0) >= last:
                        return
            await asyncio.sleep(0.1)
        log.warning("resuming jobs before the projector caught up", stream_last_seq=last)

    async def resume(self, stream: StreamClient, timeout: float = 30.0) -> list[str]:
        """Resume every job of ours whose latest state is ``running``; returns their ids."""
        await self._caught_up(stream, timeout)
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(jobs.c.job_id, jobs.c.kind, jobs.c.user_name, jobs.c.progress).where(
                        jobs.c.status == "running", jobs.c.kind.in_(list(JOB_KINDS))
                    )
                )
            ).all()
        resumed = []
        for job_id, kind, user, progress in rows:
            if job_id in self.tasks:
                continue
            ctx = self._context(job_id, kind, user, Progress.from_dict(msgspec.json.decode(progress)))
            log.info("resuming job", job_id=job_id, kind=kind, cursor=ctx.progress.cursor)
            self._spawn(ctx)
            resumed.append(job_id)
        return resumed

    async def close(self) -> None:
        """Stop every job; their state stays ``running`` so the next start resumes them."""
        for task in self.tasks.values():
            task.cancel()
        for task in self.tasks.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
