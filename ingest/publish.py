"""Appending events to the stream; an answer only after every PubAck."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import nats.errors
import nats.js.errors
import structlog
from prometheus_client import Counter

from ingest.epochs import TombstoneEpochs
from schemas.events import Event, ListenRecorded, ListensDeleted, encode_event, event_user
from schemas.subjects import global_subject, tombstone_subject, user_subject
from scrobbler.errors import Unavailable
from scrobbler.stream import StreamClient

__all__ = ["PublishResult", "Publisher"]

log = structlog.get_logger(__name__)

PUBLISHED = Counter("scrobbler_events_published_total", "Events appended to the stream", ["duplicate"])


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
    """Publishes events with ``Nats-Msg-Id`` = event id, pipelined, and waits for every ack."""

    client: StreamClient
    subject_prefix: str
    stream: str
    epochs: TombstoneEpochs | None = None

    def __post_init__(self) -> None:
        if self.epochs is None:
            self.epochs = TombstoneEpochs(self.stream, self.subject_prefix)

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
            msg_ids = await self._msg_ids(events)
            if len(events) == 1:
                ev = events[0]
                acks = [
                    await js.publish(
                        self.subject_for(ev),
                        encode_event(ev),
                        timeout=timeout,
                        headers={"Nats-Msg-Id": msg_ids[0], "Nats-Expected-Stream": self.stream},
                    )
                ]
            else:
                futures = [
                    await js.publish_async(
                        self.subject_for(ev),
                        encode_event(ev),
                        wait_stall=timeout,
                        headers={"Nats-Msg-Id": msg_id, "Nats-Expected-Stream": self.stream},
                    )
                    for ev, msg_id in zip(events, msg_ids, strict=True)
                ]
                acks = await asyncio.wait_for(asyncio.gather(*futures), timeout)
        except (
            TimeoutError,
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
            PUBLISHED.labels("true").inc(dup)
        PUBLISHED.labels("false").inc(len(acks) - dup)
        return PublishResult(sequences=[a.seq for a in acks], duplicates=duplicates)
