"""Rebuilding the SQL read model from the stream into a shadow, then switching over atomically.

1. The shadow (:mod:`projector.shadow`) is filled by the projector's own :class:`SqlSink` from
   the first event (or ``from_seq``), batch by batch, each batch committed with the shadow's
   checkpoint: a replay killed at any point resumes where it stopped.
2. Close to the end of the stream, the live SQL projectors' durable consumers are paused (JetStream
   consumer pause) and the replay waits until they have applied everything delivered to them.
3. The shadow catches up past every live checkpoint, takes over their checkpoint rows and
   replaces the live tables in one atomic step; the consumers resume and continue from their
   own position, skipping what the new tables already hold. Ingest never stops: events that
   arrive meanwhile wait in the stream.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Generic, TypeVar

import nats.errors
import structlog
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from sqlalchemy.ext.asyncio import AsyncEngine

from projector import checkpoint
from projector.db import create_engine
from projector.migrate import migrate
from projector.runner import InFlight, PoisonEvent, Sink, decode_all, on_sink_thread
from projector.shadow import REPLAY_CHECKPOINT, Shadow
from projector.sql_sink import SqlSink
from projector.stream_read import StoredMsg, read_range, stream_bounds
from projector.stream_tee import TeeReceiver, TeeSender
from scrobbler.settings import Settings

E = TypeVar("E")

__all__ = ["ProgressFn", "ReplayProgress", "ReplayResult", "is_sql_projection", "replay_into", "replay_sql"]

log = structlog.get_logger(__name__)

_SQL_NAME = re.compile(r"^sql(-p\d+of\d+)?$")
PAUSE_FOR = timedelta(minutes=10)
"""Longest the live consumers stay paused if the replay dies during the switch."""
QUIET_TIMEOUT_S = 30.0


def is_sql_projection(name: str) -> bool:
    """Whether a checkpoint row or consumer belongs to a live SQL projector (``sql``, ``sql-p0of3``)."""
    return bool(_SQL_NAME.match(name))


@dataclass(frozen=True)
class ReplayProgress:
    """Where a replay is: ``done`` of ``total`` events of this run, at stream sequence ``position``."""

    phase: str
    position: int
    target: int
    done: int
    total: int


@dataclass(frozen=True)
class ReplayResult:
    position: int
    events: int
    seconds: float
    switched: bool

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


ProgressFn = Callable[[ReplayProgress], None]


@dataclass
class _Feeder(Generic[E]):
    """Applies stream ranges to one sink, remembering its position and reporting progress."""

    js: JetStreamContext
    settings: Settings
    sink: Sink[E]
    position: int
    next_seq: int
    progress: ProgressFn | None
    batch: int = 5000
    done: int = 0
    total: int = 0
    phase: str = "rebuild"
    tee: TeeSender | None = None
    """Another process's rebuild that gets every batch read (:mod:`projector.stream_tee`)."""

    async def to(self, last: int) -> int:
        """Apply every event up to ``last``; returns the sink's position."""
        start = max(self.next_seq, self.position + 1)
        if last < start:
            return self.position
        self.total = self.done + (last - start + 1)
        subject = f"{self.settings.nats.subject_prefix}.>"
        stream = read_range(
            self.js, self.settings.nats.stream, subject, start, last, batch=self.batch, reader="replay"
        )
        await self._apply_all(stream, lambda: last)
        self.next_seq = max(self.next_seq, last + 1)
        return self.position

    async def from_tee(self, tee: TeeReceiver) -> int:
        """Apply what another process's replay reads (:mod:`projector.stream_tee`) until it ends;
        a gap before its first batch is read from the stream. Returns the sink's position."""

        async def after_position() -> AsyncIterator[list[StoredMsg]]:
            expected = max(self.next_seq, self.position + 1)
            first = True
            async for msgs in tee.batches(self.batch):
                if first and msgs[0].seq > expected:
                    # The sender started past this sink's position (nothing is in flight yet).
                    expected = await self.to(msgs[0].seq - 1) + 1
                first = False
                fresh = msgs if msgs[0].seq >= expected else [m for m in msgs if m.seq >= expected]
                if not fresh:
                    continue
                expected = fresh[-1].seq + 1
                self.total = max(self.total, self.done + tee.target - fresh[0].seq + 1)
                yield fresh

        await self._apply_all(after_position(), lambda: tee.target)
        self.next_seq = max(self.next_seq, self.position + 1)
        log.info("folded what the other replay read", events=tee.received, position=self.position)
        return self.position

    async def _apply_all(self, source: AsyncIterator[list[StoredMsg]], target: Callable[[], int]) -> None:
        """Fold and commit each batch of ``source`` (batch k commits while k+1 is folded, in
        order), handing each to :attr:`tee` first."""
        inflight = InFlight()
        try:
            async for msgs in source:
                if self.tee is not None:
                    await self.tee.send(msgs, target())
                try:
                    batch, prepared = await on_sink_thread(self.sink, partial(self._fold, msgs))
                except PoisonEvent as exc:
                    log.error("poison event, replay stopped", seq=exc.seq, error=str(exc))
                    await inflight.settle()
                    raise
                await inflight.hand(self._commit(batch, prepared, target()))
            await inflight.settle()
        finally:
            await inflight.abandon()

    def _fold(self, msgs: list[StoredMsg]) -> tuple[list[tuple[int, E]], object | None]:
        """The messages decoded, and the sink's preparation of them."""
        batch = decode_all(self.sink.decode, ((m.seq, m.data) for m in msgs))
        return batch, self.sink.prepare(batch) if batch else None

    async def _commit(self, batch: list[tuple[int, E]], prepared: object | None, last: int) -> None:
        await self.sink.apply(batch, prepared)
        self.position = batch[-1][0]
        self.next_seq = self.position + 1
        self.done += len(batch)
        if self.progress is not None:
            self.progress(ReplayProgress(self.phase, self.position, last, self.done, self.total))

    async def to_end(self) -> int:
        return await self.to((await stream_bounds(self.js, self.settings.nats.stream))[1])


async def replay_into(
    js: JetStreamContext,
    settings: Settings,
    sink: Sink[E],
    *,
    from_seq: int = 1,
    progress: ProgressFn | None = None,
    batch: int = 5000,
    tee: TeeReceiver | None = None,
) -> int:
    """Bring any sink to the end of the stream (the cube replay and tests use it); its position.

    ``tee``: first apply what another process's replay reads, until it ends
    (:mod:`projector.stream_tee`), then read the rest."""
    position = await sink.position()
    first, _ = await stream_bounds(js, settings.nats.stream)
    feeder = _Feeder(js, settings, sink, position, max(from_seq, first, position + 1), progress, batch)
    if tee is not None:
        await feeder.from_tee(tee)
    return await feeder.to_end()


async def _live_names(js: JetStreamContext, stream: str, engine: AsyncEngine) -> tuple[list[str], list[str]]:
    """(checkpoint rows the new tables take over, consumers to pause) of the live SQL projectors."""
    async with engine.connect() as conn:
        rows = [n for n in await checkpoint.load_all(conn) if is_sql_projection(n)]
    consumers = [c.name for c in await js.consumers_info(stream) if c.name and is_sql_projection(c.name)]
    names = sorted(set(rows) | set(consumers)) or ["sql"]
    return names, consumers


async def _pause(js: JetStreamContext, stream: str, consumers: list[str]) -> None:
    until = (datetime.now(UTC) + PAUSE_FOR).strftime("%Y-%m-%dT%H:%M:%SZ")
    for name in consumers:
        await js.pause_consumer(stream, name, until)
    deadline = time.monotonic() + QUIET_TIMEOUT_S
    for name in consumers:
        while True:
            info = await js.consumer_info(stream, name)
            if not info.num_ack_pending:
                break
            if time.monotonic() > deadline:
                log.warning("projector did not settle; its batch will be redelivered", consumer=name)
                break
            await asyncio.sleep(0.05)


async def _resume(js: JetStreamContext, stream: str, consumers: list[str]) -> None:
    for name in consumers:
        try:
            await js.resume_consumer(stream, name)
        except (NotFoundError, nats.errors.Error, TimeoutError) as exc:
            log.warning("could not resume consumer", consumer=name, error=str(exc))


async def resume_left_paused(js: JetStreamContext, stream: str) -> None:
    """Resume SQL consumers an interrupted replay left paused."""
    for info in await js.consumers_info(stream):
        if info.name and is_sql_projection(info.name) and getattr(info, "paused", False):
            await _resume(js, stream, [info.name])


async def replay_sql(
    js: JetStreamContext,
    settings: Settings,
    *,
    from_seq: int = 1,
    restart: bool = False,
    switch: bool = True,
    progress: ProgressFn | None = None,
    batch: int = 5000,
    tee: TeeSender | None = None,
) -> ReplayResult:
    """Rebuild the SQL read model into a shadow and switch over (see the module docstring).

    ``tee``: hand every batch read while rebuilding to another process's replay (the cube's,
    :mod:`projector.stream_tee`); it is closed before the switch, or when the replay fails."""
    started = time.perf_counter()
    stream = settings.nats.stream
    live = create_engine(settings.db.dsn)
    shadow = Shadow(settings.db.dsn)
    try:
        await migrate(live)
        await resume_left_paused(js, stream)
        position = await shadow.open(live, restart=restart)
        assert shadow.engine is not None
        if position:
            log.info("resuming replay", position=position)
        first, _ = await stream_bounds(js, stream)
        feeder = _Feeder(
            js,
            settings,
            SqlSink(shadow.engine, REPLAY_CHECKPOINT, remote=shadow.writer),
            position,
            position + 1 if position else max(from_seq, first),
            progress,
            batch,
            tee=tee,
        )
        # Rebuild until close to the end of a stream that keeps growing, then switch.
        for _ in range(20):
            before = feeder.position
            _, last = await stream_bounds(js, stream)
            if last - before <= batch:
                break
            await feeder.to(last)
        if tee is not None:
            feeder.tee = None
            await tee.close()  # the other replay reads the rest itself
        if not switch:
            await feeder.to_end()
            return ReplayResult(feeder.position, feeder.done, time.perf_counter() - started, False)
        feeder.phase = "switch"
        names, consumers = await _live_names(js, stream, live)
        await _pause(js, stream, consumers)
        try:

            async def catch_up(live_position: int) -> int:
                position = await feeder.to_end()
                if live_position > position:
                    log.warning(
                        "live read model is ahead of the stream (another stream's history?)",
                        live=live_position,
                        stream_end=position,
                    )
                return position

            position = await shadow.switch(live, names, catch_up)
        finally:
            await _resume(js, stream, consumers)
        seconds = time.perf_counter() - started
        log.info(
            "replay done", position=position, events=feeder.done, seconds=round(seconds, 1), projections=names
        )
        return ReplayResult(position, feeder.done, seconds, True)
    finally:
        if tee is not None:
            await tee.close()
        await shadow.close()
        await live.dispose()
