"""The publisher against a real nats-server: acks on one inbox, duplicates, epochs across replicas."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.acks import AckInbox, NoStreamError
from ingest.publish import Publisher
from schemas.events import ArtistCredit, ListensDeleted
from schemas.listens import new_listen
from scrobbler.embedded_nats import EmbeddedNats
from scrobbler.errors import Unavailable
from scrobbler.stream import StreamClient
from tests.conftest import make_settings

AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _listen(user: str, second: int = 0, title: str = "Song") -> object:
    return new_listen(
        user=user,
        listened_at=AT.replace(second=second),
        title=title,
        artists=[ArtistCredit(name="Band")],
        received_at=datetime.now(UTC),
    )


async def _client(
    tmp_path: Path, url: str, stream: str | None = None, prefix: str | None = None
) -> StreamClient:
    settings = make_settings(tmp_path, url)
    nats = settings.nats
    if stream is not None and prefix is not None:
        nats = dataclasses.replace(nats, stream=stream, subject_prefix=prefix)
    client = StreamClient(url, nats)
    await client.connect()
    return client


async def test_acks_carry_sequences_in_order_and_flag_duplicates(
    tmp_path: Path, nats_server: EmbeddedNats
) -> None:
    client = await _client(tmp_path, nats_server.url)
    try:
        pub = Publisher(client, client.settings.subject_prefix, client.settings.stream)
        events = [_listen("ann", s, f"T{s}") for s in range(50)]
        first = await pub.publish_all(events)  # type: ignore[arg-type]
        assert first.sequences == list(range(1, 51))
        assert first.duplicate_count == 0
        single = await pub.publish_all([events[7]])  # type: ignore[list-item]
        assert single.duplicates == [True] and single.sequences == [8]
        # Many concurrent single publishes: every request gets its own ack.
        results = await asyncio.gather(
            *(pub.publish_all([_listen("bob", s % 60, f"C{s}")]) for s in range(200))  # type: ignore[list-item]
        )
        seqs = [r.sequences[0] for r in results]
        assert sorted(seqs) == list(range(51, 251))
    finally:
        await client.close()


async def test_a_subject_no_stream_captures_is_an_error_not_a_hang(
    tmp_path: Path, nats_server: EmbeddedNats
) -> None:
    client = await _client(tmp_path, nats_server.url)
    try:
        assert client.nc is not None
        inbox = AckInbox(client.nc)
        with pytest.raises(NoStreamError):
            await inbox.publish_all([("nobody.listens.here", b"{}", {})], timeout=2.0)
        pub = Publisher(client, client.settings.subject_prefix, "NO_SUCH_STREAM")
        with pytest.raises(Unavailable):  # the stream refuses the expected-stream header
            await pub.publish_all([_listen("ann")])  # type: ignore[list-item]
    finally:
        await client.close()


async def test_a_tombstone_from_another_replica_lets_the_same_listen_in_again(
    tmp_path: Path, nats_server: EmbeddedNats
) -> None:
    a = await _client(tmp_path, nats_server.url)
    b = await _client(tmp_path, nats_server.url, a.settings.stream, a.settings.subject_prefix)
    try:
        prefix, stream = a.settings.subject_prefix, a.settings.stream
        pub_a, pub_b = Publisher(a, prefix, stream), Publisher(b, prefix, stream)
        listen = _listen("ann")
        assert (await pub_a.publish_all([listen])).duplicate_count == 0  # type: ignore[list-item]
        assert (await pub_a.publish_all([listen])).duplicate_count == 1  # type: ignore[list-item]
        assert pub_a.epochs is not None
        pub_a.epochs.ttl = pub_a.epochs.watched_ttl = 3600.0  # only the watch can refresh it now
        await pub_b.publish_all([ListensDeleted(event_id="del-1", occurred_at=datetime.now(UTC), user="ann")])
        for _ in range(500):  # the watch drops A's cache as soon as the tombstone reaches it
            if not pub_a.epochs._cache:
                break
            await asyncio.sleep(0.01)
        again = await pub_a.publish_all([listen])  # type: ignore[list-item]
        assert again.duplicate_count == 0, "replica A kept a stale epoch after B's tombstone"
    finally:
        await a.close()
        await b.close()
