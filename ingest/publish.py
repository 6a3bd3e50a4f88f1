"""Appending events to the stream; an answer only after every PubAck."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import nats.errors
import nats.js.errors
import structlog
from prometheus_client import Counter

from schemas.events import Event, encode_event, event_user
from schemas.subjects import global_subject, user_subject
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

    def subject_for(self, event: Event) -> str:
        user = event_user(event)
        return user_subject(self.subject_prefix, user) if user else global_subject(self.subject_prefix)

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
            if len(events) == 1:
                ev = events[0]
                acks = [
                    await js.publish(
                        self.subject_for(ev),
                        encode_event(ev),
                        timeout=timeout,
                        headers={"Nats-Msg-Id": ev.event_id, "Nats-Expected-Stream": self.stream},
                    )
                ]
            else:
                futures = [
                    await js.publish_async(
                        self.subject_for(ev),
                        encode_event(ev),
                        wait_stall=timeout,
                        headers={"Nats-Msg-Id": ev.event_id, "Nats-Expected-Stream": self.stream},
                    )
                    for ev in events
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
        duplicates = [bool(a.duplicate) for a in acks]
        dup = sum(duplicates)
        if dup:
            PUBLISHED.labels("true").inc(dup)
        PUBLISHED.labels("false").inc(len(acks) - dup)
        return PublishResult(sequences=[a.seq for a in acks], duplicates=duplicates)
