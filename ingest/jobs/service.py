"""The job runner and the genre enricher as a resource of the ingest process (opened in its lifespan)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import structlog
from litestar import Litestar

from ingest.enrichment.enricher import Enricher
from ingest.enrichment.musicbrainz import MusicBrainzClient
from ingest.jobs.runner import JobRunner
from ingest.state import IngestState

__all__ = ["job_service", "remote_http"]

log = structlog.get_logger(__name__)


def remote_http() -> httpx.AsyncClient:
    """The HTTP client for ListenBrainz and MusicBrainz."""
    return httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0), follow_redirects=True)


@contextlib.asynccontextmanager
async def job_service(app: Litestar, _query: Any = None) -> AsyncIterator[None]:
    """Run import/export jobs in this ingest process; resume interrupted ones once the stream is up."""
    state: IngestState | None = getattr(app.state, "ingest", None)
    if state is None:
        yield
        return
    settings = state.settings
    async with remote_http() as http:
        musicbrainz = MusicBrainzClient(
            settings.remote.musicbrainz_base_url, settings.remote.musicbrainz_user_agent, http
        )
        enricher = Enricher(musicbrainz, state.publisher)
        enricher.start()
        runner = JobRunner(
            settings=settings,
            publisher=state.publisher,
            directory=state.directory,
            engine=state.directory.engine,
            http=http,
            enqueue_enrichment=enricher.enqueue,
        )
        app.state.jobs = runner
        app.state.enricher = enricher
        resuming = asyncio.create_task(runner.resume(state.stream), name="resume-jobs")
        try:
            yield
        finally:
            resuming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await resuming
            await runner.close()
            await enricher.close()
