"""Continuous ListenBrainz sync: a durable consumer that forwards every new listen, in batches.

The sink's position is its ``projection_checkpoint`` row (``lb-export``), saved together with the
``lb_exported`` record of the listens sent, right after ListenBrainz answered 200, so a listen is
never skipped and, across restarts, never sent twice, except for one case: a crash between
ListenBrainz's 200 and our commit resends that batch (at most 100 listens), and ListenBrainz
drops them as it dedups by (user, listened_at, recording). 429 and 5xx are retried with backoff
for as long as it takes. Listens that came from ListenBrainz are never sent back.

It runs inside the projector process (partition 0) while the config keys ``listenbrainz_sync``
is ``on`` and ``listenbrainz_token`` is set; when first switched on it starts at the end of the
stream (history goes through the one-shot export).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import httpx
import nats.errors
import nats.js.errors
import structlog
from nats.js import JetStreamContext
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.export.payload import ExportListen, from_event, lb_payload, skip_reason
from ingest.export.record import already_exported, record_exported
from ingest.importers.listenbrainz import ListenBrainzClient, ListenBrainzError
from projector import checkpoint
from projector.runner import PoisonEvent, Projection
from projector.tables import config
from schemas.events import Event, ListenRecorded, decode_event
from schemas.subjects import stream_subjects
from scrobbler.secrets import secret_box
from scrobbler.settings import Settings

__all__ = ["SYNC_NAME", "LbExportSink", "run_lb_sync", "sync_config"]

log = structlog.get_logger(__name__)

SYNC_NAME = "lb-export"
MAX_SUBMIT = 100


@dataclass
class LbExportSink:
    """A projection sink whose "view" is the listener's ListenBrainz account."""

    engine: AsyncEngine
    client: ListenBrainzClient
    lb_user: str
    name: str = SYNC_NAME
    prepare_in_thread: ClassVar[bool] = False
    """Its fold holds the GIL throughout: nothing to gain from a thread."""
    max_backoff_s: float = 60.0
    submitted: int = 0
    skipped: int = 0
    _sleep: float = field(default=1.0, repr=False)

    async def position(self) -> int:
        async with self.engine.connect() as conn:
            return await checkpoint.load(conn, self.name)

    async def _submit(self, listens: list[ExportListen]) -> None:
        delay = 1.0
        while True:
            try:
                await self.client.submit("import", [lb_payload(x) for x in listens])
                return
            except ListenBrainzError as exc:
                if exc.status == 400 and len(listens) > 1:
                    # One bad listen refuses the whole request: send them one by one, drop the refused.
                    for one in listens:
                        with contextlib.suppress(ListenBrainzError):
                            await self._submit([one])
                    return
                if 400 <= exc.status < 500 and exc.status != 429:
                    log.warning(
                        "listenbrainz refused a listen, not sent", status=exc.status, detail=exc.detail
                    )
                    self.skipped += len(listens)
                    return
                log.warning("listenbrainz unavailable, sync waits", error=str(exc), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff_s)

    async def _flush(self, pending: list[ExportListen], upto: int) -> None:
        if pending:
            async with self.engine.connect() as conn:
                done = await already_exported(conn, self.lb_user, [x.listen_id for x in pending])
            fresh = [x for x in pending if x.listen_id not in done]
            if fresh:
                await self._submit(fresh)
                self.submitted += len(fresh)
        async with self.engine.begin() as conn:
            await record_exported(conn, self.lb_user, [x.listen_id for x in pending])
            await checkpoint.save(conn, self.name, upto)

    def decode(self, data: bytes) -> Event:
        return decode_event(data)

    def prepare(self, batch: Sequence[tuple[int, Event]]) -> None:
        return None

    async def apply(self, batch: Sequence[tuple[int, Event]], prepared: object | None = None) -> int:
        """Send the batch's listens in requests of ≤ 100; the checkpoint follows each 200."""
        if not batch:
            return 0
        done = await self.position()
        pending: list[ExportListen] = []
        applied = 0
        for seq, event in batch:
            if seq <= done:
                continue
            applied += 1
            if isinstance(event, ListenRecorded):
                listen = from_event(event)
                if skip_reason(listen) is None:
                    pending.append(listen)
                    if len(pending) == MAX_SUBMIT:
                        await self._flush(pending, seq)
                        pending = []
        if applied:
            await self._flush(pending, batch[-1][0])
        return applied


async def sync_config(engine: AsyncEngine, settings: Settings) -> tuple[bool, str, str]:
    """(enabled, token in clear, ListenBrainz user) from the config table."""
    try:
        async with engine.connect() as conn:
            rows = {
                k: (v, bool(s))
                for k, v, s in await conn.execute(select(config.c.key, config.c.value, config.c.secret))
            }
    except SQLAlchemyError:
        return False, "", ""
    on = rows.get("listenbrainz_sync", ("off", False))[0] == "on"
    token, secret = rows.get("listenbrainz_token", ("", False))
    if token and secret:
        try:
            token = secret_box(settings).decrypt(token)
        except ValueError:
            log.error("listenbrainz_token cannot be decrypted with this server's secret; sync stays off")
            return False, "", ""
    return on and bool(token), token, rows.get("listenbrainz_user", ("", False))[0]


async def _start_position(engine: AsyncEngine, js: JetStreamContext, settings: Settings) -> None:
    """First switch-on: start at the end of the stream (only new listens are forwarded)."""
    async with engine.begin() as conn:
        if await checkpoint.load(conn, SYNC_NAME) == 0:
            last = (await js.stream_info(settings.nats.stream)).state.last_seq
            await checkpoint.save(conn, SYNC_NAME, last)


async def run_lb_sync(
    settings: Settings, js: JetStreamContext, engine: AsyncEngine, stop: asyncio.Event, poll_s: float = 5.0
) -> None:
    """Forward new listens while sync is on; re-read the config every ``poll_s`` seconds."""
    async with httpx.AsyncClient(timeout=30) as http:
        while not stop.is_set():
            on, token, lb_user = await sync_config(engine, settings)
            if not on:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), poll_s)
                continue
            client = ListenBrainzClient(settings.remote.listenbrainz_base_url, http, token=token)
            try:
                lb_user = lb_user or await client.validate_token() or ""
                if not lb_user:
                    log.error("listenbrainz_token is not valid; sync waits for a new one")
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), poll_s)
                    continue
                await _start_position(engine, js, settings)
            except (ListenBrainzError, nats.errors.Error, nats.js.errors.Error, SQLAlchemyError) as exc:
                log.warning("listenbrainz sync cannot start yet", error=str(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), poll_s)
                continue
            projection = Projection(
                js=js,
                stream=settings.nats.stream,
                sink=LbExportSink(engine, client, lb_user),
                filter_subjects=[stream_subjects(settings.nats.subject_prefix)[0]],
                batch_size=500,
            )
            halt = asyncio.Event()
            running = asyncio.create_task(projection.run(halt))
            log.info("listenbrainz sync on", lb_user=lb_user)
            while not stop.is_set() and not running.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), poll_s)
                if (await sync_config(engine, settings))[:2] != (on, token):
                    break
            halt.set()
            try:
                await running
            except (PoisonEvent, SQLAlchemyError, nats.errors.Error, nats.js.errors.Error) as exc:
                log.error("listenbrainz sync stopped, restarting", error=str(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), poll_s)
            log.info("listenbrainz sync off")
