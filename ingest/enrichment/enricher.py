"""Genres for imported listens that came without any: looked up in MusicBrainz in the background.

Import jobs hand over fresh listens without genres; they are never awaited (a bounded queue,
overflow dropped and counted), so an import runs at full speed while the enricher works at
MusicBrainz's one request per second, once per recording or artist thanks to the cache. Each
result is appended as a ListenEnriched event that the projectors fold into genres.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import structlog

from ingest.enrichment.musicbrainz import MusicBrainzClient
from ingest.publish import Publisher
from schemas.events import ListenEnriched, ListenRecorded
from schemas.identity import normalize_name
from schemas.listens import primary_artist
from scrobbler.errors import Unavailable

__all__ = ["Enricher", "enrichment_id", "lookup_key"]

log = structlog.get_logger(__name__)

_NAMESPACE = uuid.UUID("6f1a3c2e-2b7d-4d0e-9a51-5c3f0b8e7a10")


def lookup_key(event: ListenRecorded) -> str:
    """What to ask MusicBrainz about a listen: its recording, else its artist (by id, else by name)."""
    if event.recording_mbid:
        return f"recording:{event.recording_mbid}"
    for credit in event.artists:
        if credit.mbid:
            return f"artist:{credit.mbid}"
    return f"artist-name:{normalize_name(primary_artist(event.artists))}"


def enrichment_id(listen_id: str) -> str:
    """One enrichment per listen: a retried publish is dropped by the stream."""
    return str(uuid.uuid5(_NAMESPACE, f"mb-genres:{listen_id}"))


@dataclass
class Enricher:
    """A background worker: listens in, ListenEnriched events out."""

    client: MusicBrainzClient
    publisher: Publisher
    max_queue: int = 100_000
    enriched: int = 0
    dropped: int = 0
    _queue: asyncio.Queue[ListenRecorded] = field(init=False)
    _task: asyncio.Task[None] | None = None
    _idle: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._queue = asyncio.Queue(self.max_queue)
        self._idle.set()

    def enqueue(self, events: Sequence[ListenRecorded]) -> int:
        """Queue listens for a lookup without waiting; returns how many fit."""
        queued = 0
        for event in events:
            try:
                self._queue.put_nowait(event)
                queued += 1
            except asyncio.QueueFull:
                self.dropped += len(events) - queued
                log.warning(
                    "enrichment queue full, listens left without genres", dropped=len(events) - queued
                )
                break
        if queued:
            self._idle.clear()
        return queued

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="enricher")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def drained(self) -> None:
        """Return once every queued listen was looked up (the CLI waits for it before exiting)."""
        await self._idle.wait()

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < 1000:
                batch.append(self._queue.get_nowait())
            try:
                await self._enrich(batch)
            except (httpx.HTTPError, ValueError) as exc:
                log.warning(
                    "enrichment batch failed, listens left without genres", error=str(exc), listens=len(batch)
                )
            if self._queue.empty():
                self._idle.set()

    async def _enrich(self, batch: list[ListenRecorded]) -> None:
        by_key: dict[str, list[ListenRecorded]] = defaultdict(list)
        for event in batch:
            by_key[lookup_key(event)].append(event)
        now = datetime.now(UTC)
        for key, waiting in by_key.items():
            genres = await self.client.tags(key)
            if not genres:
                continue
            events = [
                ListenEnriched(
                    event_id=enrichment_id(e.event_id),
                    occurred_at=now,
                    user=e.user,
                    listen_id=e.event_id,
                    genres=genres,
                    source="musicbrainz",
                )
                for e in waiting
            ]
            for attempt in range(5):
                try:
                    await self.publisher.publish_all(events)
                    self.enriched += len(events)
                    break
                except Unavailable:
                    await asyncio.sleep(2**attempt)
