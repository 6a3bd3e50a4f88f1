"""What a running job works with, and how it reports progress as JobUpdated events."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.directory import Directory
from ingest.jobs.progress import Progress
from ingest.publish import Publisher, PublishResult
from schemas.events import Event, JobUpdated
from scrobbler.errors import Unavailable
from scrobbler.settings import Settings

__all__ = ["MAX_PUBLISH_BATCH", "JobContext", "Status"]

log = structlog.get_logger(__name__)

MAX_PUBLISH_BATCH = 1000
Status = Literal["queued", "running", "done", "failed", "cancelled"]


@dataclass
class JobContext:
    """One job's identity, progress and resources; ``report`` appends its JobUpdated event."""

    job_id: str
    kind: str
    user: str | None
    progress: Progress
    settings: Settings
    publisher: Publisher
    directory: Directory
    http: httpx.AsyncClient
    engine: AsyncEngine
    enqueue_enrichment: Callable[[Sequence[Any]], int] | None = None
    on_progress: Callable[[JobContext], None] | None = None
    secrets: dict[str, str] = field(default_factory=dict)
    """Values given with the request that must not reach the stream (a token): lost on restart."""
    started: float = field(default_factory=time.monotonic)
    status: Status = "running"
    error: str | None = None

    async def publish(self, events: Sequence[Event]) -> PublishResult:
        """Append events in batches of at most 1000; while the stream is down, wait and retry."""
        sequences: list[int] = []
        duplicates: list[bool] = []
        for start in range(0, len(events), MAX_PUBLISH_BATCH):
            chunk = events[start : start + MAX_PUBLISH_BATCH]
            delay = 0.5
            while True:
                try:
                    result = await self.publisher.publish_all(chunk)
                    break
                except Unavailable:
                    log.warning("stream unavailable, job waits", job_id=self.job_id, retry_in=delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10.0)
            sequences += result.sequences
            duplicates += result.duplicates
        return PublishResult(sequences=sequences, duplicates=duplicates)

    async def report(self, status: Status = "running", error: str | None = None) -> None:
        """Append this job's state (latest wins in the ``jobs`` table)."""
        self.status = status
        self.error = error
        self.progress.timing(time.monotonic() - self.started)
        event = JobUpdated(
            event_id=uuid.uuid4().hex,
            occurred_at=datetime.now(UTC),
            job_id=self.job_id,
            kind=self.kind,
            status=status,
            progress=self.progress.to_dict(),
            user=self.user,
            error=error,
        )
        await self.publish([event])
        if self.on_progress is not None:
            self.on_progress(self)
