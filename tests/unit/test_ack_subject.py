"""The JetStream ack subject, in both of its forms, read by hand (projector.pull)."""

from __future__ import annotations

import pytest

from projector.pull import ack_sequences, pending_of, stream_seq_of

OLD = "$JS.ACK.SCROBBLES.cube-1.1.4321.17.1733212345000000000.250000"
"""``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>``"""
NEW = "$JS.ACK.hub.ACCHASH.SCROBBLES.cube-1.2.4321.17.1733212345000000000.250000.x7Yz"
"""With a domain and an account hash, and the random token that ends it."""


@pytest.mark.parametrize("reply", [OLD, NEW])
def test_both_forms_give_the_same_sequences_and_backlog(reply: str) -> None:
    delivered, stream_seq, consumer_seq = ack_sequences(reply)
    assert (stream_seq, consumer_seq) == (4321, 17)
    assert delivered == (1 if reply is OLD else 2)
    assert pending_of(reply) == 250_000
    assert stream_seq_of(reply) == stream_seq
