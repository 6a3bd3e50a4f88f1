"""JetStream publishes answered on one wildcard inbox: the hot path of every ingest request.

``JetStreamContext.publish`` costs a request/response round of nats-py machinery per message
(a fresh reply token, ``asyncio.wait_for``, ``json.loads`` and a PubAck dataclass): about 55 µs
of CPU on this machine, more than a third of an ingest request. Here every publish carries the
reply subject ``<inbox>.<counter>`` of one subscription made at start, the PubAck is decoded
with msgspec straight into a struct, and one timer per call (not per message) bounds the wait:
about 20 µs per message, measured in the same run (see docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

__all__ = ["Ack", "AckError", "AckInbox", "NoStreamError"]

_STATUS = "Status"
_NO_RESPONDERS = "503"


class AckErrorBody(msgspec.Struct, frozen=True):
    code: int = 0
    err_code: int = 0
    description: str = ""


class Ack(msgspec.Struct, frozen=True):
    """A JetStream PubAck: the stream sequence, and whether the stream already had the message."""

    stream: str = ""
    seq: int = 0
    duplicate: bool = False
    error: AckErrorBody | None = None


class AckError(Exception):
    """The stream refused a message (its PubAck carries an error)."""

    def __init__(self, body: AckErrorBody) -> None:
        super().__init__(f"{body.code} {body.err_code}: {body.description}")
        self.body = body


class NoStreamError(Exception):
    """No stream listens on the subject (NATS answered "no responders")."""


_DECODER = msgspec.json.Decoder(Ack)


@dataclass
class AckInbox:
    """Publishes to JetStream and resolves each publish's future from its PubAck."""

    nc: NATS
    _prefix: str = ""
    _sub: Subscription | None = None
    _pending: dict[str, asyncio.Future[Ack]] = field(default_factory=dict)
    _tokens: itertools.count[int] = field(default_factory=itertools.count)

    async def start(self) -> None:
        self._prefix = self.nc.new_inbox() + "."
        self._sub = await self.nc.subscribe(self._prefix + "*", cb=self._on_ack)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    async def _on_ack(self, msg: Msg) -> None:
        future = self._pending.pop(msg.subject[len(self._prefix) :], None)
        if future is None or future.done():
            return  # answered after its timeout
        if not msg.data and msg.headers and msg.headers.get(_STATUS) == _NO_RESPONDERS:
            future.set_exception(NoStreamError(msg.subject))
            return
        try:
            ack = _DECODER.decode(msg.data)
        except msgspec.DecodeError as exc:
            future.set_exception(exc)
            return
        if ack.error is not None:
            future.set_exception(AckError(ack.error))
        else:
            future.set_result(ack)

    async def publish_all(
        self, messages: Sequence[tuple[str, bytes, dict[str, str]]], timeout: float
    ) -> list[Ack]:
        """Publish ``(subject, payload, headers)`` in order, pipelined; every ack or an exception.

        Raises ``TimeoutError`` when some ack is missing after ``timeout`` seconds,
        :class:`AckError` or :class:`NoStreamError` when the stream refused one.
        """
        if self._sub is None:
            await self.start()
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Ack]] = []
        tokens: list[str] = []
        try:
            for subject, payload, headers in messages:
                token = f"{next(self._tokens):x}"
                future: asyncio.Future[Ack] = loop.create_future()
                self._pending[token] = future
                tokens.append(token)
                futures.append(future)
                await self.nc.publish(subject, payload, reply=self._prefix + token, headers=headers)
            timer = loop.call_later(timeout, _expire, futures)
            try:
                if len(futures) == 1:
                    return [await futures[0]]
                return list(await asyncio.gather(*futures))
            except BaseException:
                for future in futures:  # the first failure is raised; the others are consumed
                    if future.done() and not future.cancelled():
                        future.exception()
                raise
            finally:
                timer.cancel()
        finally:
            for token in tokens:
                self._pending.pop(token, None)


def _expire(futures: list[asyncio.Future[Ack]]) -> None:
    for future in futures:
        if not future.done():
            future.set_exception(TimeoutError("no PubAck in time"))
