"""The projections' own connection against real nats-servers: credentials, TLS, a server restart."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import uuid
from pathlib import Path

import nats
import nats.errors
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from projector.db import create_engine
from projector.migrate import migrate
from projector.pull import ConsumerGone, Puller, ack_sequences
from projector.runner import Projection
from projector.sql_sink import SqlSink
from projector.wire import WireConnection, WireError
from scrobbler.embedded_nats import start_embedded


async def _read_all(url: str, n: int = 300) -> list[int]:
    """Publish ``n`` messages on a fresh stream and read them back through a Puller."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    stream, prefix = f"W{uuid.uuid4().hex[:8]}", f"w{uuid.uuid4().hex[:8]}"
    try:
        await js.add_stream(name=stream, subjects=[f"{prefix}.>"])
        for i in range(n):
            await js.publish_async(f"{prefix}.x", str(i).encode(), headers={"Nats-Msg-Id": f"m{i}"})
        await js.publish_async_completed()
        await js.add_consumer(
            stream, ConsumerConfig(name="c", ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL)
        )
        puller = await Puller(nc, stream, "c", batch=100).start()
        seen: list[int] = []
        while len(seen) < n:
            batch = await puller.next_batch(timeout=5.0)
            assert batch, "stalled"
            seen += [int(m.data) for m in batch]
            assert all(ack_sequences(m.reply)[1] == int(m.data) + 1 for m in batch)
        await puller.stop()
        return seen
    finally:
        await js.delete_stream(stream)
        await nc.close()


async def test_credentials_in_the_url_are_used_and_a_wrong_password_is_named(tmp_path: Path) -> None:
    server = start_embedded(
        tmp_path / "nats", extra_config='authorization { user: "lb", password: "s3cret" }'
    )
    try:
        host = server.url.removeprefix("nats://")
        assert await _read_all(f"nats://lb:s3cret@{host}") == list(range(300))
        with pytest.raises(WireError, match=r"(?i)authorization"):
            await WireConnection.connect([f"nats://lb:wrong@{host}"])
    finally:
        server.stop()


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


async def test_tls_when_the_server_requires_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = _self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the default trust store, as nats-py's tls:// uses
    server = start_embedded(
        tmp_path / "nats", extra_config=f'tls {{ cert_file: "{cert}", key_file: "{key}" }}'
    )
    try:
        host = server.url.partition("://")[2]
        assert await _read_all(f"tls://{host}", n=50) == list(range(50))
    finally:
        server.stop()


async def test_a_server_restart_ends_the_pull_with_consumer_gone(tmp_path: Path) -> None:
    server = start_embedded(tmp_path / "nats")
    nc = await nats.connect(server.url, max_reconnect_attempts=0)
    js = nc.jetstream()
    await js.add_stream(name="R", subjects=["r.>"])
    await js.publish("r.x", b"1")
    await js.add_consumer("R", ConsumerConfig(name="c", ack_policy=AckPolicy.NONE))
    puller = await Puller(nc, "R", "c", batch=10).start()
    assert [m.data for m in await puller.next_batch(timeout=5.0)] == [b"1"]
    server.stop()

    async def pull_until_it_fails() -> None:
        for _ in range(10):
            await puller.next_batch(timeout=1.0)

    with pytest.raises(ConsumerGone, match="connection"):
        await pull_until_it_fails()
    await puller.stop()
    await nc.close()


async def test_a_projection_stops_when_asked_while_its_stream_is_gone(tmp_path: Path) -> None:
    """SIGTERM (the stop event) ends a projection even while it retries an unreachable stream."""
    server = start_embedded(tmp_path / "nats")
    nc = await nats.connect(server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    js = nc.jetstream(timeout=1.0)
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/read.db")
    try:
        await js.add_stream(name="G", subjects=["g.>"])
        await js.publish("g.x", b"not an event")  # never reached: the stream goes first
        await migrate(engine)
        projection = Projection(js=js, stream="G", sink=SqlSink(engine, "sql"), filter_subjects=["g.none"])
        stop = asyncio.Event()
        task = asyncio.create_task(projection.run(stop))
        await asyncio.sleep(1.0)
        server.stop()
        await asyncio.sleep(2.0)  # it has lost its connection and retries
        assert not task.done()
        stop.set()
        await asyncio.wait_for(task, 10)
    finally:
        await engine.dispose()
        with contextlib.suppress(OSError, nats.errors.Error):  # its server is gone
            await nc.close()
