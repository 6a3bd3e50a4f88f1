"""The wire connection's protocol parser: every message whole, in order, however the bytes are cut."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from projector.wire import ConnectionLost, Delivery, WireConnection, _Protocol, header_value, status_of


class _Transport(asyncio.Transport):
    """Collects what the connection writes (the parser answers PING)."""

    def __init__(self) -> None:
        super().__init__()
        self.written = b""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)


def _frame(d: Delivery, sid: int) -> bytes:
    reply = f" {d.reply}" if d.reply else ""
    if d.headers:
        size = len(d.headers) + len(d.data)
        return (
            f"HMSG {d.subject} {sid}{reply} {len(d.headers)} {size}\r\n".encode()
            + d.headers
            + d.data
            + b"\r\n"
        )
    return f"MSG {d.subject} {sid}{reply} {len(d.data)}\r\n".encode() + d.data + b"\r\n"


_payload = st.binary(max_size=300).map(lambda b: b.replace(b"\r\n", b"\n"))
_delivery = st.builds(
    Delivery,
    subject=st.from_regex(r"\Ascrobbles\.u\.[0-9]{1,3}\.[a-z]{1,8}\Z"),
    reply=st.one_of(st.just(""), st.from_regex(r"\A\$JS\.ACK\.S\.c\.1\.[0-9]{1,6}\.[0-9]{1,6}\.1\.0\Z")),
    headers=st.one_of(
        st.just(b""),
        st.from_regex(r"\A[0-9a-f]{8}\Z").map(
            lambda i: b"NATS/1.0\r\nNats-Msg-Id: " + i.encode() + b"\r\n\r\n"
        ),
    ),
    data=_payload,
)


def _feed(chunks: list[bytes]) -> tuple[list[Delivery], _Transport, list[object]]:
    async def run() -> tuple[list[Delivery], _Transport, list[object]]:
        conn = WireConnection()
        proto = _Protocol(conn)
        transport = _Transport()
        proto.connection_made(transport)
        got: list[Delivery] = []
        calls: list[object] = []

        def on(batch: list[Delivery] | ConnectionLost) -> None:
            calls.append(batch)
            if not isinstance(batch, ConnectionLost):
                got.extend(batch)

        conn.subscribe("_INBOX.x", on)
        for chunk in chunks:
            proto.data_received(chunk)
        proto.connection_lost(None)
        return got, transport, calls

    return asyncio.run(run())


def _cut(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points:
        pieces.append(data[last:p])
        last = p
    pieces.append(data[last:])
    return [p for p in pieces if p]


@settings(max_examples=200, deadline=None)
@given(st.lists(_delivery, max_size=30), st.lists(st.integers(min_value=0, max_value=20_000), max_size=12))
def test_messages_come_out_whole_and_in_order_however_the_stream_is_cut(
    deliveries: list[Delivery], cuts: list[int]
) -> None:
    stream = b"INFO {}\r\n" + b"".join(
        _frame(d, 1) + (b"PING\r\n" if i % 7 == 3 else b"") for i, d in enumerate(deliveries)
    )
    got, transport, _ = _feed(_cut(stream, cuts))
    assert got == deliveries
    pings = sum(1 for i in range(len(deliveries)) if i % 7 == 3)
    assert transport.written.count(b"PONG\r\n") == pings


def test_a_chunk_delivers_its_messages_in_one_call_and_a_lost_connection_is_told() -> None:
    ds = [Delivery("a.b", "r.1", b"", b"x" * i) for i in range(50)]
    got, _, calls = _feed([b"".join(_frame(d, 1) for d in ds)])
    assert got == ds
    assert len(calls) == 2 and isinstance(calls[1], ConnectionLost)


def test_a_message_bigger_than_many_chunks() -> None:
    big = Delivery("a.b", "r", b"NATS/1.0\r\nNats-Msg-Id: big\r\n\r\n", bytes(range(256)) * 8192)  # 2 MiB
    frame = _frame(big, 1) + _frame(Delivery("a.c", "", b"", b"after"), 1)
    got, _, _ = _feed([frame[i : i + 65536] for i in range(0, len(frame), 65536)])
    assert got == [big, Delivery("a.c", "", b"", b"after")]
    assert header_value(got[0].headers, "nats-msg-id") == "big"


def test_status_messages_and_headers() -> None:
    no_msgs = Delivery("_INBOX.x", "", b"NATS/1.0 404 No Messages\r\n\r\n", b"")
    gone = Delivery("_INBOX.x", "", b"NATS/1.0 409 Consumer Deleted\r\n\r\n", b"")
    heartbeat = Delivery("_INBOX.x", "", b"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Stream: 9\r\n\r\n", b"")
    assert status_of(no_msgs) == ("404", "No Messages")
    assert status_of(gone) == ("409", "Consumer Deleted")
    assert status_of(heartbeat) == ("100", "Idle Heartbeat")
    assert header_value(heartbeat.headers, "Nats-Last-Stream") == "9"
    plain = Delivery("s", "r", b"NATS/1.0\r\nNats-Msg-Id: abc\r\n\r\n", b"{}")
    assert status_of(plain) is None
    assert header_value(plain.headers, "Nats-Msg-Id") == "abc"
    assert header_value(plain.headers, "Missing") is None
    assert header_value(b"", "Nats-Msg-Id") is None


def test_server_error_is_kept() -> None:
    async def run() -> WireConnection:
        conn = WireConnection()
        proto = _Protocol(conn)
        proto.connection_made(_Transport())
        proto.data_received(b"-ERR 'Authorization Violation'\r\n")
        return conn

    conn = asyncio.run(run())
    assert conn.error is not None and str(conn.error) == "Authorization Violation"
