"""Reading a range of the stream in order, fast, without a durable consumer (replay, backup).

An ephemeral pull consumer with no acks (``AckPolicy.NONE``) over every subject of the stream
delivers each message once, in stream order, read ahead by a :class:`~projector.pull.Puller`.
The reader checks that sequences are contiguous: on a hole it recreates the consumer at the
missing sequence once, and only a hole that is still there (messages really gone from the
stream) is accepted.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import msgspec
import nats.errors
import structlog
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from projector.pull import Puller, connection_of, stream_seq_of
from projector.wire import header_value

__all__ = ["StoredMsg", "covers_stream", "read_range", "stream_bounds"]

log = structlog.get_logger(__name__)


class StoredMsg(msgspec.Struct, frozen=True, gc=False):
    """One message of the stream as stored (a struct: a fifth of a frozen dataclass's cost to
    make, once a message in every range read)."""

    seq: int
    subject: str
    data: bytes
    headers: bytes
    """The raw header block (``b""`` when none); :attr:`msg_id` reads it."""

    @property
    def msg_id(self) -> str | None:
        return header_value(self.headers, "Nats-Msg-Id")


async def stream_bounds(js: JetStreamContext, stream: str) -> tuple[int, int]:
    """The first and last sequence of the stream (``last < first`` when it is empty)."""
    state = (await js.stream_info(stream)).state
    return int(state.first_seq or 0), int(state.last_seq or 0)


def covers_stream(filter_subject: str, subjects: list[str]) -> bool:
    """Whether every subject the stream captures matches ``filter_subject`` (``a.b.>`` covers
    ``a.b.c`` and ``a.b.c.>``; an exact filter only itself)."""
    if not subjects:
        return False
    if filter_subject.endswith(".>"):
        head = filter_subject[:-1]  # "a.b."
        return all(s.startswith(head) and len(s) > len(head) for s in subjects)
    return all(s == filter_subject for s in subjects)


async def read_range(
    js: JetStreamContext,
    stream: str,
    subject: str,
    first: int,
    last: int,
    *,
    batch: int = 5000,
    reader: str = "reader",
) -> AsyncIterator[list[StoredMsg]]:
    """Yield the messages with sequences ``first..last`` of ``subject`` in batches, in stream order.

    ``reader`` prefixes the ephemeral consumer's name, so ``scrobbler status`` shows who reads.
    A ``subject`` that covers every subject of the stream is left out of the consumer: JetStream
    then reads its blocks in order instead of matching each message (measured on 1M generated
    listens: nats-server spent 6.0-6.6 µs a message with the filter ``<prefix>.>``, 2.5-2.7 µs
    without, and the reader took 6.1 s instead of 4.5 s).
    """
    config = (await js.stream_info(stream)).config
    filtered = None if covers_stream(subject, config.subjects or []) else subject
    expected = max(first, 1)
    retried_at: int | None = None
    while expected <= last:
        name = f"{reader}-{uuid.uuid4().hex[:12]}"
        await js.add_consumer(
            stream,
            ConsumerConfig(
                name=name,
                filter_subject=filtered,
                ack_policy=AckPolicy.NONE,
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=expected,
                inactive_threshold=120.0,
                mem_storage=True,
            ),
        )
        puller = await Puller(connection_of(js), stream, name, batch=batch).start()
        try:
            while expected <= last:
                msgs = await puller.next_batch(timeout=2.0)
                if not msgs:
                    if (await stream_bounds(js, stream))[1] < expected:
                        return  # the stream holds nothing more
                    continue
                out: list[StoredMsg] = []
                hole = False
                for msg in msgs:
                    seq = stream_seq_of(msg.reply)
                    if seq < expected:
                        continue
                    if seq > expected and retried_at != expected:
                        log.warning("sequence hole, re-reading", expected=expected, got=seq)
                        retried_at = expected
                        hole = True
                        break
                    if seq > last:
                        break
                    out.append(StoredMsg(seq, msg.subject, msg.data, msg.headers))
                    expected = seq + 1
                if out:
                    yield out
                if hole:
                    break
        finally:
            with contextlib.suppress(nats.errors.Error, NotFoundError, TimeoutError):
                await puller.stop()
                await js.delete_consumer(stream, name)
