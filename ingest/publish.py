"""Appending events to the stream; an answer only after every PubAck."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import nats.errors
import nats.js.errors
import structlog
from prometheus_client import Counter

from ingest.acks import AckError, AckInbox, NoStreamError
from ingest.epochs import TombstoneEpochs
from schemas.events import Event, ListenRecorded, ListensDeleted, encode_event, event_user
from schemas.subjects import global_subject, tombstone_subject, user_subject
from scrobbler.errors import Unavailable
from scrobbler.stream import StreamClient

__all__ = ["PublishResult", "Publisher"]

log = structlog.get_logger(__name__)

PUBLISHED = Counter("scrobbler_events_published_total", "Events appended to the stream", ["duplicate"])
_PUBLISHED_NEW = PUBLISHED.labels("false")
_PUBLISHED_DUPLICATE = PUBLISHED.labels("true")


@dataclass(frozen=True)
class PublishResult:
    """Stream sequences of the events, and which of them the stream already had (``duplicates``)."""

    sequences: list[int]
    duplicates: list[bool]

    @property
    def duplicate_count(self) -> int:
        return sum(self.duplicates)


@dataclass
class Publisher:
    """Publishes events with ``Nats-Msg-Id`` = event id, pipelined, and waits for every ack.

    Acks arrive on one wildcard inbox (:mod:`ingest.acks`), not a request per message.
    """

    client: StreamClient
    subject_prefix: str
    stream: str
    epochs: TombstoneEpochs | None = None
    _inbox: AckInbox | None = None
    _starting: asyncio.Lock = field(default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        if self.epochs is None:
            self.epochs = TombstoneEpochs(self.stream, self.subject_prefix)

    async def _ack_inbox(self) -> AckInbox:
        """The ack inbox of this connection; on first use also the tombstone watch of the epochs."""
        client = self.client
        nc = client.nc
        assert nc is not None
        if self._inbox is not None and self._inbox.nc is nc:
            return self._inbox
        async with self._starting:
            if self._inbox is None or self._inbox.nc is not nc:
                epochs = self.epochs
                assert epochs is not None
                inbox = AckInbox(nc)
                await inbox.start()
                await epochs.watch(nc)
                client.reconnect_hooks.append(lambda: epochs.forget(None))
                self._inbox = inbox
            return self._inbox

    def subject_for(self, event: Event) -> str:
        user = event_user(event)
        if isinstance(event, ListensDeleted):
            return tombstone_subject(self.subject_prefix, user)
        return user_subject(self.subject_prefix, user) if user else global_subject(self.subject_prefix)

    async def _msg_ids(self, events: Sequence[Event]) -> list[str]:
        assert self.epochs is not None
        assert self.client.js is not None
        users = {e.user for e in events if isinstance(e, ListenRecorded)}
        epochs = await self.epochs.epochs(self.client.js, users) if users else {}
        return [
            f"{e.event_id}@{epochs[e.user]}"
            if isinstance(e, ListenRecorded) and epochs.get(e.user)
            else e.event_id
            for e in events
        ]

    async def publish_all(self, events: Sequence[Event]) -> PublishResult:
        """Append every event; raise :class:`Unavailable` unless the stream acknowledged them all.

        A partial failure is safe to retry: events already stored are dropped as duplicates by
        the stream (within its window) and by every read model's unique key (after it).
        """
        js = self.client.js
        if js is None or not self.client.connected:
            raise Unavailable("the event stream is not reachable; retry later")
        timeout = self.client.settings.publish_timeout_s
        try:
            inbox = await self._ack_inbox()
            msg_ids = await self._msg_ids(events)
            acks = await inbox.publish_all(
                [
                    (
                        self.subject_for(ev),
                        encode_event(ev),
                        {"Nats-Msg-Id": msg_id, "Nats-Expected-Stream": self.stream},
                    )
                    for ev, msg_id in zip(events, msg_ids, strict=True)
                ],
                timeout,
            )
        except (
            TimeoutError,
            AckError,
            NoStreamError,
            nats.errors.Error,
            nats.js.errors.Error,
            OSError,
        ) as exc:
            log.warning("publish failed", error=repr(exc), events=len(events))
            raise Unavailable("the event stream did not acknowledge the write; retry later") from exc
        for ev in events:
            if isinstance(ev, ListensDeleted):
                assert self.epochs is not None
                self.epochs.forget(ev.user)
        duplicates = [bool(a.duplicate) for a in acks]
        dup = sum(duplicates)
        if dup:
            _PUBLISHED_DUPLICATE.inc(dup)
        _PUBLISHED_NEW.inc(len(acks) - dup)
        return PublishResult(sequences=[a.seq for a in acks], duplicates=duplicates)
