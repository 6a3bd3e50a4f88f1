"""Connecting to NATS and declaring the stream, idempotently, with explicit settings."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import nats
import structlog
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, Placement, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError, ServiceUnavailableError
from nats.js.kv import KeyValue

from schemas.subjects import stream_subjects
from scrobbler.settings import NatsSettings

__all__ = ["NOW_PLAYING_BUCKET", "StreamClient", "ensure_now_playing", "ensure_stream", "stream_config"]

log = structlog.get_logger(__name__)

NOW_PLAYING_BUCKET = "now_playing"
NOW_PLAYING_TTL_S = 600.0
STREAM_MOVE_IN_PROGRESS = 10124
"""JetStream error code of an update refused while the stream moves to its new placement."""


def stream_config(settings: NatsSettings) -> StreamConfig:
    """The stream every event goes to: file storage, kept forever, deduplicated by ``Nats-Msg-Id``."""
    return StreamConfig(
        name=settings.stream,
        description="Scrobbler events: the source of truth of every read model",
        subjects=stream_subjects(settings.subject_prefix),
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_msgs=-1,
        max_bytes=-1,
        max_age=0,
        max_msg_size=1 << 20,
        num_replicas=settings.replicas,
        placement=Placement(tags=list(settings.placement_tags)) if settings.placement_tags else None,
        duplicate_window=settings.duplicate_window_s,
        allow_direct=True,
        deny_delete=True,
    )


async def ensure_stream(js: JetStreamContext, settings: NatsSettings) -> None:
    """Create the stream, or bring an existing one to the configured settings."""
    wanted = stream_config(settings)
    try:
        info = await js.stream_info(settings.stream)
    except NotFoundError:
        await js.add_stream(wanted)
        log.info("stream created", stream=settings.stream, replicas=settings.replicas)
        return
    have = info.config
    moved = sorted((have.placement.tags or []) if have.placement else []) != sorted(settings.placement_tags)
    scaled = (have.num_replicas or 1) != settings.replicas
    if (
        sorted(have.subjects or []) != sorted(wanted.subjects or [])
        or have.duplicate_window != wanted.duplicate_window
        or scaled
        or have.allow_direct != wanted.allow_direct
        or moved
    ):
        if moved and scaled:
            # JetStream refuses to move and scale a stream in one update, and scales only once a
            # move is complete: move now, scale at a later start.
            wanted = dataclasses.replace(wanted, num_replicas=have.num_replicas)
            log.warning("stream moving; its replica count changes at a later start", stream=settings.stream)
        try:
            await js.update_stream(wanted)
        except BadRequestError as exc:
            if exc.err_code != STREAM_MOVE_IN_PROGRESS:
                raise
            log.warning("stream move in progress; not updated now", stream=settings.stream)
            return
        log.info("stream updated", stream=settings.stream, replicas=wanted.num_replicas)


async def ensure_now_playing(js: JetStreamContext, settings: NatsSettings) -> KeyValue:
    """The key-value bucket of now-playing entries (ephemeral, not listens)."""
    try:
        return await js.key_value(NOW_PLAYING_BUCKET)
    except NotFoundError:
        from nats.js.api import KeyValueConfig

        return await js.create_key_value(
            KeyValueConfig(
                bucket=NOW_PLAYING_BUCKET,
                history=1,
                ttl=NOW_PLAYING_TTL_S,
                storage=StorageType.FILE,
                replicas=settings.replicas,
            )
        )


@dataclass
class StreamClient:
    """One NATS connection per process, reconnecting forever; the stream declared once connected."""

    url: str
    settings: NatsSettings
    name: str = "scrobbler"
    nc: NATS | None = None
    js: JetStreamContext | None = None
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    reconnect_hooks: list[Callable[[], None]] = field(default_factory=list)
    """Called after NATS reconnects (caches of what may have passed unseen are dropped)."""

    async def connect(self, *, declare: bool = True) -> None:
        """Connect (retrying until it works) and declare the stream."""
        servers = [u.strip() for u in self.url.split(",") if u.strip()]
        delay = 0.2
        while True:
            try:
                self.nc = await nats.connect(
                    servers=servers,
                    name=self.name,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    connect_timeout=2,
                    pending_size=64 * 1024 * 1024,
                    disconnected_cb=self._disconnected,
                    reconnected_cb=self._reconnected,
                )
                break
            except (OSError, nats.errors.Error, TimeoutError) as exc:
                log.warning("nats unreachable, retrying", url=self.url, error=str(exc), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        self.js = self.nc.jetstream(timeout=self.settings.publish_timeout_s)
        if declare:
            await self._declare(self.js)
        self._ready.set()

    async def _declare(self, js: JetStreamContext) -> None:
        """Declare the stream, retrying while JetStream cannot answer (a cluster electing its leader)."""
        delay = 0.2
        while True:
            try:
                await ensure_stream(js, self.settings)
                return
            except (ServiceUnavailableError, nats.errors.TimeoutError, nats.errors.NoRespondersError) as exc:
                log.warning("jetstream not available, retrying", error=repr(exc), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _disconnected(self) -> None:
        log.warning("nats disconnected")

    async def _reconnected(self) -> None:
        log.info("nats reconnected")
        for hook in self.reconnect_hooks:
            hook()

    @property
    def connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    async def wait_ready(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._ready.wait(), timeout)

    async def close(self) -> None:
        if self.nc is not None and not self.nc.is_closed:
            try:
                await self.nc.drain()
            except (nats.errors.Error, TimeoutError, OSError):
                await self.nc.close()
