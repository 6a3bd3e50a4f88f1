"""Reading the stream once for two rebuilds: a replay's reads handed to a second process.

``scrobbler replay`` rebuilds the SQL read model in its own process and the cube in a second one.
Each used to read the whole stream from nats-server itself: the server served every message
twice, and each process paid for reading it (2.9 µs a message in Python, measured alone). With a tee, the
SQL replay's reader hands each batch it reads, still raw (stream sequence and message bytes), to
the cube's process through a pipe, and that process folds what it receives instead of reading.

The tee only saves reading; it never decides what a rebuild holds:

- the receiver applies what comes after its own position and reads any gap before the first
  batch from the stream itself (a resumed rebuild may be behind the sender);
- when the sender is done with its rebuild (or dies, or stops sending), the receiver goes on from
  the stream as before, up to its end;
- a receiver that dies only stops the tee: the sender goes on alone.

Memory stays bounded: a few batches wait in the sender's queue, the pipe holds what the OS
buffers, and the receiver gathers whole sender batches into one of its own batch size at a time. The two
rebuilds then go at the pace of the slower one, side by side, instead of the faster one finishing
early and leaving a core idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import AsyncIterator, Sequence
from multiprocessing.connection import Connection

import msgspec
import structlog

from projector.stream_read import StoredMsg

__all__ = ["TeeBatch", "TeeEnd", "TeeReceiver", "TeeSender"]

log = structlog.get_logger(__name__)


class TeeBatch(msgspec.Struct, tag="batch", array_like=True, gc=False):
    """Messages ``seqs[i]``, ``data[i]`` read in stream order, contiguous; the sender's target."""

    target: int
    """The last stream sequence the sender's current read goes to (for the receiver's progress)."""
    seqs: list[int]
    data: list[bytes]


class TeeEnd(msgspec.Struct, tag="end", array_like=True, gc=False):
    """The sender sends nothing more: the receiver reads the rest from the stream."""


_Message = TeeBatch | TeeEnd
_ENCODE = msgspec.msgpack.Encoder()
_DECODE: msgspec.msgpack.Decoder[_Message] = msgspec.msgpack.Decoder(_Message)
_QUEUED = 4
"""Batches waiting to be written to the pipe before :meth:`TeeSender.send` waits."""


class TeeSender:
    """The reading side: sends each batch it is given, on a thread of its own (the pipe's writes
    block while the receiver is busy, the event loop does not)."""

    def __init__(self, pipe: Connection) -> None:
        self._pipe = pipe
        self._queue: queue.Queue[_Message | None] = queue.Queue(maxsize=_QUEUED)
        self._broken = threading.Event()
        self._closed = False
        self.sent = 0
        """Messages handed to the receiver."""
        self.waited_s = 0.0
        """Seconds :meth:`send` waited for the receiver (the queue was full)."""
        self._thread = threading.Thread(target=self._write, name="stream-tee", daemon=True)
        self._thread.start()

    @property
    def broken(self) -> bool:
        """The receiver went away: batches are dropped from then on."""
        return self._broken.is_set()

    def _write(self) -> None:
        while True:
            message = self._queue.get()
            if message is None:
                return
            if self._broken.is_set():
                continue
            try:
                self._pipe.send_bytes(_ENCODE.encode(message))
            except OSError:  # BrokenPipeError and the like: the receiver is gone
                self._broken.set()

    async def _put(self, message: _Message | None) -> None:
        try:
            self._queue.put_nowait(message)
        except queue.Full:
            started = time.perf_counter()
            await asyncio.to_thread(self._queue.put, message)
            self.waited_s += time.perf_counter() - started

    async def send(self, msgs: Sequence[StoredMsg], target: int) -> None:
        """Hand ``msgs`` (contiguous, in stream order) to the receiver; waits only while the
        queue is full (the receiver is behind)."""
        if self._closed or self.broken or not msgs:
            return
        await self._put(TeeBatch(target, [m.seq for m in msgs], [m.data for m in msgs]))
        self.sent += len(msgs)

    async def close(self) -> None:
        """Tell the receiver the rest comes from the stream, flush, and close the pipe."""
        if self._closed:
            return
        self._closed = True
        await self._put(TeeEnd())
        await self._put(None)
        await asyncio.to_thread(self._thread.join)
        self._pipe.close()
        log.info("stream tee closed", sent=self.sent, waited_s=round(self.waited_s, 1), broken=self.broken)


class TeeReceiver:
    """The folding side: the sender's batches, regrouped into batches of the receiver's size."""

    def __init__(self, pipe: Connection) -> None:
        self._pipe = pipe
        self.target = 0
        """The sender's last announced target (0 before the first batch)."""
        self.received = 0
        """Messages received so far."""
        self._ended = False

    def _receive(self) -> TeeBatch | None:
        """The next batch; None once the sender has ended or gone (or sent what cannot be read)."""
        if self._ended:
            return None
        message: _Message
        try:
            message = _DECODE.decode(self._pipe.recv_bytes())
        except (EOFError, OSError, msgspec.DecodeError):
            message = TeeEnd()
        if isinstance(message, TeeEnd):
            self._ended = True
            with contextlib.suppress(OSError):
                self._pipe.close()  # nothing more comes
            return None
        self.received += len(message.seqs)
        return message

    def _group(self, batch: int) -> list[StoredMsg] | None:
        """The next ``batch`` messages or more (whole sender batches), fewer only at the end.

        Waiting for a whole batch costs a replay nothing, and the receiver commits as many
        messages at a time as when it reads the stream itself (a cube commit has a fixed cost)."""
        received = self._receive()
        if received is None:
            return None
        out: list[StoredMsg] = []
        while received is not None:
            self.target = received.target
            out.extend(StoredMsg(s, "", d, b"") for s, d in zip(received.seqs, received.data, strict=True))
            if len(out) >= batch:
                break
            received = self._receive()
        return out

    async def batches(self, batch: int) -> AsyncIterator[list[StoredMsg]]:
        """Batches of ``batch`` messages or more as the sender read them, until it ends."""
        while (out := await asyncio.to_thread(self._group, batch)) is not None:
            yield out
