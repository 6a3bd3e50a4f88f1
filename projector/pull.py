"""Pulling batches from a JetStream consumer with one request always ahead, and no per-message timer.

nats-py's ``PullSubscription.fetch`` waits for each message of a batch with ``asyncio.wait_for``
and asks for the next batch only when called again: reading the stream cost more CPU than folding
it, and the stream sat idle while a batch was being written. :class:`Puller` sends JetStream's
documented pull request (``$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>``, ``{"batch", "expires"}``)
to an inbox and sends the next request as soon as the previous one is served, while the caller is
still busy with what it took: the stream and the database work at the same time, and the buffer
never holds more than two requests' worth. Deliveries and acks travel on a
:class:`~projector.wire.WireConnection` of the puller's own, which hands over every message of a
socket read at once (nats-py's receive path cost 20 µs a message).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import msgspec
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from projector.wire import ConnectionLost, Delivery, WireConnection, status_of

__all__ = [
    "ConsumerGone",
    "Delivery",
    "Puller",
    "ack_sequences",
    "connection_of",
    "pending_of",
    "servers_of",
    "stream_seq_of",
]

_HEARTBEAT = "100"
_GONE = ("consumer deleted", "consumer is push based")
_ACK = b"+ACK"


def ack_sequences(reply: str) -> tuple[int, int, int]:
    """(times delivered, stream sequence, consumer sequence) from a JetStream ack subject.

    ``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>`` or, with a domain and
    account hash, ``$JS.ACK.<domain>.<hash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>...``;
    parsed by hand because nats-py's full metadata (datetimes, dataclasses) costs more than the fold.
    """
    tokens = reply.split(".")
    i = 4 if len(tokens) == 9 else 6
    return int(tokens[i]), int(tokens[i + 1]), int(tokens[i + 2])


def stream_seq_of(reply: str) -> int:
    """The stream sequence alone of :func:`ack_sequences` (range reads need no more)."""
    tokens = reply.split(".")
    return int(tokens[5 if len(tokens) == 9 else 7])


def pending_of(reply: str) -> int:
    """Messages the consumer has still to be delivered after this one (the ack subject's
    ``<pending>``, in either of :func:`ack_sequences`' forms)."""
    tokens = reply.split(".")
    return int(tokens[8 if len(tokens) == 9 else 10])


def connection_of(js: JetStreamContext) -> NATS:
    """The NATS connection under a JetStream context (nats-py keeps it in ``_nc``)."""
    nc: NATS = js._nc  # no public accessor in nats-py 2.x
    return nc


def servers_of(nc: NATS) -> list[str]:
    """The server URLs of ``nc``, the one it is connected to first (credentials included)."""
    urls = [u.geturl() for u in ([nc.connected_url] if nc.connected_url else []) + nc.servers]
    return list(dict.fromkeys(urls))


class ConsumerGone(Exception):
    """The consumer no longer exists (deleted, or its stream is gone), or the connection to it dropped."""


class _PullRequest(msgspec.Struct, frozen=True):
    batch: int
    expires: int
    """Nanoseconds."""


_ENCODE = msgspec.json.Encoder().encode


@dataclass
class Puller:
    """Batches of messages from one pull consumer, in delivery order."""

    nc: NATS
    """The JetStream client's connection: where the puller's own connection goes."""
    stream: str
    consumer: str
    batch: int = 5000
    expires_s: float = 5.0
    _wire: WireConnection | None = None
    _sid: int = 0
    _inbox: str = ""
    _buffer: list[Delivery] = field(default_factory=list)
    linger_s: float = 0.02
    """After the first message, how long to wait for a full batch (bigger transactions downstream)."""
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _filled: asyncio.Event = field(default_factory=asyncio.Event)
    _remaining: int = 0
    """Messages the outstanding request may still deliver (0: no request outstanding)."""
    _requested_at: float = 0.0
    _error: Exception | None = None

    async def start(self) -> Puller:
        self._wire = await WireConnection.connect(servers_of(self.nc), name=f"puller-{self.consumer}")
        self._inbox = self.nc.new_inbox()
        self._sid = self._wire.subscribe(self._inbox, self._on_deliveries)
        return self

    async def stop(self) -> None:
        if self._wire is not None:
            wire, self._wire = self._wire, None
            with contextlib.suppress(ConnectionLost):
                wire.unsubscribe(self._sid)
                await wire.flush(timeout=2.0)
            wire.close()

    def _request(self) -> None:
        assert self._wire is not None
        self._remaining = self.batch
        self._requested_at = time.monotonic()
        self._wire.publish(
            f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{self.consumer}",
            _ENCODE(_PullRequest(batch=self.batch, expires=int(self.expires_s * 1e9))),
            reply=self._inbox,
        )

    def _on_deliveries(self, deliveries: list[Delivery] | ConnectionLost) -> None:
        if isinstance(deliveries, ConnectionLost):
            self._error = ConsumerGone(f"{self.stream}/{self.consumer}: {deliveries}")
            self._remaining = 0
            self._filled.set()
            self._arrived.set()
            return
        for d in deliveries:
            status = status_of(d) if not d.data else None
            if status is None:
                self._buffer.append(d)
                self._remaining -= 1
                continue
            code, description = status
            if code == _HEARTBEAT:
                continue
            # 404 no messages, 408 expired, 409 exceeded limits / leadership change: request over.
            if code == "409" and any(g in description.lower() for g in _GONE):
                self._error = ConsumerGone(f"{self.stream}/{self.consumer}: {description}")
            self._remaining = 0
        if self._remaining <= 0 or len(self._buffer) >= self.batch or self._error is not None:
            self._filled.set()
        if self._remaining <= 0 and self._error is None and len(self._buffer) < self.batch and self._wire:
            self._request()  # the next request, while the caller works on what it took
        self._arrived.set()

    def ack(self, delivery: Delivery) -> None:
        """Acknowledge ``delivery`` (with AckAll, everything delivered before it too)."""
        if self._wire is not None and not self._wire.closed:
            self._wire.publish(delivery.reply, _ACK)

    async def next_batch(self, timeout: float) -> list[Delivery]:
        """Every message that has arrived (at least one), or ``[]`` after ``timeout`` seconds."""
        if self._wire is None:
            await self.start()
        if not self._buffer:
            if self._remaining <= 0 and self._error is None:
                self._request()
            self._arrived.clear()
            try:
                async with asyncio.timeout(timeout):
                    while not self._buffer and self._error is None:
                        await self._arrived.wait()
                        self._arrived.clear()
            except TimeoutError:
                if time.monotonic() - self._requested_at > self.expires_s + 2.0:
                    self._remaining = 0  # its answer was lost: ask again next time
        if self._buffer and len(self._buffer) < self.batch and self._error is None:
            # More is on its way: wait a moment for a full batch rather than return a sliver.
            self._filled.clear()
            if len(self._buffer) < self.batch and self._remaining > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.linger_s):
                        await self._filled.wait()
        if self._error is not None and not self._buffer:
            raise self._error
        taken, self._buffer = self._buffer, []
        if self._remaining <= 0 and self._error is None:
            self._request()
        return taken
