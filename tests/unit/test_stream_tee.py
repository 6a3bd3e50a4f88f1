"""The stream tee (:mod:`projector.stream_tee`) over a real OS pipe: order, regrouping, endings."""

from __future__ import annotations

import asyncio
import multiprocessing

from projector.stream_read import StoredMsg
from projector.stream_tee import TeeReceiver, TeeSender


def _msgs(first: int, n: int) -> list[StoredMsg]:
    return [StoredMsg(s, "scrobbles.u.x", f"event {s}".encode(), b"") for s in range(first, first + n)]


async def _collect(receiver: TeeReceiver, batch: int) -> list[list[tuple[int, bytes]]]:
    return [[(m.seq, m.data) for m in msgs] async for msgs in receiver.batches(batch)]


async def test_batches_arrive_in_order_regrouped_up_to_the_batch_size() -> None:
    out, into = multiprocessing.Pipe(duplex=False)
    sender, receiver = TeeSender(into), TeeReceiver(out)
    for first in range(1, 1001, 100):
        await sender.send(_msgs(first, 100), target=1000)
    await sender.close()  # everything is in the pipe before the receiver reads: it regroups
    got = await _collect(receiver, batch=250)
    assert [len(b) for b in got] == [300, 300, 300, 100]  # whole sender batches, up to >= 250
    assert [s for b in got for s, _ in b] == list(range(1, 1001))
    assert got[0][0] == (1, b"event 1")
    assert receiver.target == 1000


async def test_a_batch_waits_for_its_size_until_the_sender_ends() -> None:
    out, into = multiprocessing.Pipe(duplex=False)
    sender, receiver = TeeSender(into), TeeReceiver(out)
    batches = receiver.batches(8)
    await sender.send(_msgs(1, 5), target=12)
    pending = asyncio.ensure_future(anext(batches))
    await asyncio.sleep(0.2)
    assert not pending.done()  # 5 of 8: it waits for more
    await sender.send(_msgs(6, 4), target=12)
    first = await asyncio.wait_for(pending, 5)
    assert [m.seq for m in first] == list(range(1, 10))  # whole sender batches
    await sender.send(_msgs(10, 3), target=12)
    await sender.close()
    assert [[m.seq for m in b] async for b in batches] == [[10, 11, 12]]  # the rest, at the end


async def test_a_sender_that_goes_without_a_word_ends_the_batches() -> None:
    out, into = multiprocessing.Pipe(duplex=False)
    receiver = TeeReceiver(out)
    into.send_bytes(b"\xc1 not msgpack")  # what cannot be read ends the tee too
    assert await _collect(receiver, 10) == []
    out2, into2 = multiprocessing.Pipe(duplex=False)
    into2.close()  # the sending process died: end of the pipe
    assert await _collect(TeeReceiver(out2), 10) == []


async def test_a_receiver_that_goes_only_stops_the_tee() -> None:
    out, into = multiprocessing.Pipe(duplex=False)
    sender = TeeSender(into)
    out.close()
    for first in range(1, 100_001, 5000):  # more than the pipe and the queue hold
        await asyncio.wait_for(sender.send(_msgs(first, 5000), target=100_000), 10)
    assert sender.broken
    await asyncio.wait_for(sender.close(), 10)
