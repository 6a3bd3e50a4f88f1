"""Pulling batches from a JetStream consumer with one request always ahead, and no per-message timer.

nats-py's ``PullSubscription.fetch`` waits for each message of a batch with ``asyncio.wait_for``
and asks for the next batch only when called again: reading the stream cost more CPU than folding
it, and the stream sat idle while a batch was being written. :class:`Puller` sends JetStream's
documented pull request (``$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>``, ``{"batch", "expires"}``)
to an inbox whose callback only appends to a buffer, and sends the next request as soon as the
previous one is served, while the caller is still busy with what it took: the stream and the
database work at the same time, and the buffer never holds more than two requests' worth.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext

__all__ = ["ConsumerGone", "Puller", "ack_sequences", "connection_of"]

_STATUS = "Status"
_DESCRIPTION = "Description"
_HEARTBEAT = "100"
_GONE = ("consumer deleted", "consumer is push based")


def ack_sequences(reply: str) -> tuple[int, int, int]:
    """(times delivered, stream sequence, consumer sequence) from a JetStream ack subject.

    ``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>`` or, with a domain and
    account hash, ``$JS.ACK.<domain>.<hash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>...``;
    parsed by hand because nats-py's full metadata (datetimes, dataclasses) costs more than the fold.
    """
    tokens = reply.split(".")
    i = 4 if len(tokens) == 9 else 6
    return int(tokens[i]), int(tokens[i + 1]), int(tokens[i + 2])


def connection_of(js: JetStreamContext) -> NATS:
    """The NATS connection under a JetStream context (nats-py keeps it in ``_nc``)."""
    nc: NATS = js._nc  # no public accessor in nats-py 2.x
    return nc


class ConsumerGone(Exception):
    """The consumer no longer exists (deleted, or its stream is gone)."""


class _PullRequest(msgspec.Struct, frozen=True):
    batch: int
    expires: int
    """Nanoseconds."""


_ENCODE = msgspec.json.Encoder().encode


@dataclass
class Puller:
    """Batches of messages from one pull consumer, in delivery order."""

    nc: NATS
    stream: str
    consumer: str
    batch: int = 5000
    expires_s: float = 5.0
    _sub: Subscription | None = None
    _inbox: str = ""
    _buffer: list[Msg] = field(default_factory=list)
    linger_s: float = 0.02
    """After the first message, how long to wait for a full batch (bigger transactions downstream)."""
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _filled: asyncio.Event = field(default_factory=asyncio.Event)
    _remaining: int = 0
    """Messages the outstanding request may still deliver (0: no request outstanding)."""
    _requested_at: float = 0.0
    _error: Exception | None = None

    async def start(self) -> Puller:
        self._inbox = self.nc.new_inbox()
        self._sub = await self.nc.subscribe(
            self._inbox, cb=self._on_msg, pending_msgs_limit=4 * self.batch + 64
        )
        return self

    async def stop(self) -> None:
        if self._sub is not None:
            sub, self._sub = self._sub, None
            await sub.unsubscribe()

    async def _request(self) -> None:
        self._remaining = self.batch
        self._requested_at = time.monotonic()
        await self.nc.publish(
            f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{self.consumer}",
            _ENCODE(_PullRequest(batch=self.batch, expires=int(self.expires_s * 1e9))),
            reply=self._inbox,
        )

    async def _on_msg(self, msg: Msg) -> None:
        headers = msg.headers
        if headers is not None and not msg.data and _STATUS in headers:
            status = headers[_STATUS]
            if status == _HEARTBEAT:
                return
            # 404 no messages, 408 expired, 409 exceeded limits / leadership change: request over.
            description = headers.get(_DESCRIPTION, "").lower()
            if status == "409" and any(g in description for g in _GONE):
                self._error = ConsumerGone(f"{self.stream}/{self.consumer}: {description}")
            self._remaining = 0
        else:
            self._buffer.append(msg)
            self._remaining -= 1
        if self._remaining <= 0 or len(self._buffer) >= self.batch or self._error is not None:
            self._filled.set()
        if self._remaining <= 0 and self._error is None and len(self._buffer) < self.batch and self._sub:
            await self._request()  # the next request, while the caller works on what it took
        self._arrived.set()

    async def next_batch(self, timeout: float) -> list[Msg]:
        """Every message that has arrived (at least one), or ``[]`` after ``timeout`` seconds."""
        if self._sub is None:
            await self.start()
        if not self._buffer:
            if self._remaining <= 0:
                await self._request()
            self._arrived.clear()
            try:
                async with asyncio.timeout(timeout):
                    while not self._buffer and self._error is None:
                        await self._arrived.wait()
                        self._arrived.clear()
            except TimeoutError:
                if time.monotonic() - self._requested_at > self.expires_s + 2.0:
                    self._remaining = 0  # its answer was lost (a reconnect): ask again next time
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
            await self._request()
        return taken
