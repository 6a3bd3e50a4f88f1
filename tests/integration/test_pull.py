"""The Puller against a real nats-server: order, read-ahead bound, live tail, a deleted consumer."""

from __future__ import annotations

import asyncio
import uuid

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from projector.pull import ConsumerGone, Puller, ack_sequences, pending_of
from scrobbler.embedded_nats import EmbeddedNats


async def test_every_message_once_in_order_then_the_live_tail(nats_server: EmbeddedNats) -> None:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    stream, prefix = f"P{uuid.uuid4().hex[:8]}", f"p{uuid.uuid4().hex[:8]}"
    try:
        await js.add_stream(name=stream, subjects=[f"{prefix}.>"])
        for i in range(2500):
            await js.publish_async(f"{prefix}.x", str(i).encode())
        await js.publish_async_completed()
        await js.add_consumer(
            stream, ConsumerConfig(name="c", ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL)
        )
        puller = await Puller(nc, stream, "c", batch=300).start()
        seen: list[int] = []
        while len(seen) < 2500:
            batch = await puller.next_batch(timeout=2.0)
            assert batch, "stalled before the end of the stream"
            assert len(batch) <= 2 * 300, "read ahead more than two requests"
            seen += [ack_sequences(m.reply)[1] for m in batch]
            # What the consumer has still to deliver, as the server counts it (a projection's backlog).
            assert [pending_of(m.reply) for m in batch] == [2500 - s for s in seen[-len(batch) :]]
            await asyncio.sleep(0.01)  # "work" while the next request is served
        assert seen == list(range(1, 2501))
        assert [int(m.data) for m in batch][-1] == 2499

        assert await puller.next_batch(timeout=0.3) == []  # caught up: nothing, no error
        await js.publish(f"{prefix}.x", b"live")
        live = await puller.next_batch(timeout=5.0)
        assert [m.data for m in live] == [b"live"]

        await js.delete_consumer(stream, "c")

        async def drain() -> None:
            for _ in range(10):
                await puller.next_batch(timeout=1.0)

        with pytest.raises(ConsumerGone):
            await drain()
        await puller.stop()
    finally:
        await js.delete_stream(stream)
        await nc.close()
