"""Raw nats-py around the stream: the ceilings of ingest-batch, project and cube, and loading a stream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from bench.context import EncodedEvents
from projector.pull import Delivery, Puller, connection_of
from scrobbler.settings import NatsSettings
from scrobbler.stream import ensure_stream

__all__ = ["connect", "consume", "create_stream", "fill_stream", "load_events", "publish_events"]


async def connect(url: str) -> tuple[NATS, JetStreamContext]:
    nc = await nats.connect(url, pending_size=256 * 1024 * 1024, max_reconnect_attempts=3)
    return nc, nc.jetstream(timeout=30)


async def create_stream(js: JetStreamContext, name: str, prefix: str) -> None:
    """The product's stream configuration (file storage, duplicate window) under ``name``/``prefix``."""
    await ensure_stream(js, NatsSettings(stream=name, subject_prefix=prefix))


async def publish_events(
    js: JetStreamContext,
    events: EncodedEvents,
    *,
    stream: str,
    prefix: str = "scrobbles",
    start: int = 0,
    stop: int | None = None,
    window: int = 4000,
) -> float:
    """``publish_async`` rows ``start:stop`` with ``Nats-Msg-Id``, waiting for every ack; returns seconds."""
    stop = len(events.payloads) if stop is None else stop
    rename = prefix != "scrobbles"
    started = time.perf_counter()
    pending: list[asyncio.Future[Any]] = []
    for i in range(start, stop):
        subject = events.subjects[i]
        if rename:
            subject = prefix + subject[len("scrobbles") :]
        pending.append(
            await js.publish_async(
                subject,
                events.payloads[i],
                wait_stall=30.0,
                headers={"Nats-Msg-Id": events.ids[i], "Nats-Expected-Stream": stream},
            )
        )
        if len(pending) >= window:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)
    return time.perf_counter() - started


async def load_events(
    nc: NATS,
    events: EncodedEvents,
    *,
    stream: str,
    start: int = 0,
    stop: int | None = None,
    window: int = 4000,
) -> float:
    """Fill a stream for a scenario (not a measured figure) with ingest's own pipelined publisher
    (:class:`ingest.acks.AckInbox`, several times faster than ``publish_async``); returns seconds."""
    from ingest.acks import AckInbox

    stop = len(events.payloads) if stop is None else stop
    inbox = AckInbox(nc)
    await inbox.start()
    started = time.perf_counter()
    try:
        for lo in range(start, stop, window):
            hi = min(stop, lo + window)
            await inbox.publish_all(
                [
                    (
                        events.subjects[i],
                        events.payloads[i],
                        {"Nats-Msg-Id": events.ids[i], "Nats-Expected-Stream": stream},
                    )
                    for i in range(lo, hi)
                ],
                timeout=60.0,
            )
    finally:
        await inbox.stop()
    return time.perf_counter() - started


async def fill_stream(url: str, events: EncodedEvents, *, stop: int | None = None) -> float:
    """Create the product's stream ``SCROBBLES`` on ``url`` and load ``events[:stop]``; returns seconds."""
    nc, js = await connect(url)
    try:
        await create_stream(js, "SCROBBLES", "scrobbles")
        return await load_events(nc, events, stream="SCROBBLES", stop=stop)
    finally:
        await nc.close()


async def consume(
    js: JetStreamContext,
    stream: str,
    n: int,
    on_batch: Callable[[list[Delivery]], Awaitable[None]],
    *,
    durable: str = "bench-ceiling",
    batch: int = 5000,
) -> float:
    """Pull ``n`` messages from the start in batches, hand each batch over, ack it; returns seconds.

    The fastest reading the project has (the projections' own :class:`~projector.pull.Puller`
    and its connection), so a ceiling is never slower at reading than what it bounds.
    """
    await js.add_consumer(
        stream,
        ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.ALL,
            deliver_policy=DeliverPolicy.ALL,
            max_ack_pending=-1,
            ack_wait=60,
        ),
    )
    puller = await Puller(connection_of(js), stream, durable, batch=batch).start()
    seen = 0
    started = time.perf_counter()
    while seen < n:
        msgs = await puller.next_batch(timeout=10)
        if not msgs:
            raise TimeoutError(f"{stream}: nothing to read after {seen} of {n} messages")
        await on_batch(msgs)
        puller.ack(msgs[-1])
        seen += len(msgs)
    elapsed = time.perf_counter() - started
    await puller.stop()
    await js.delete_consumer(stream, durable)
    return elapsed
