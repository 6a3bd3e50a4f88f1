"""Schema evolution: a stream holding ListenRecorded v1 and v2 projects and replays the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import nats
import pytest

from projector.replay import replay_sql
from schemas.events import ListenRecorded, ListenRecordedV1, decode_event, encode_event
from scrobbler.embedded_nats import EmbeddedNats
from tests.conftest import make_settings, running_stack
from tests.integration.replay_support import listens_for, publish_raw, snapshot, wait_position


def as_v1(listen: ListenRecorded) -> bytes:
    """The listen as an older ingest wrote it (tag ``listen_recorded.v1``, no ``played_secs``)."""
    fields = msgspec.structs.asdict(listen)
    fields.pop("played_secs")
    return encode_event(ListenRecordedV1(**fields))


def test_v1_is_upcast_and_v2_round_trips() -> None:
    (listen,) = listens_for(0, 1)
    old = as_v1(listen)
    assert b'"type":"listen_recorded.v1"' in old
    assert b"played_secs" not in old
    up = decode_event(old)
    assert type(up) is ListenRecorded
    assert up == listen
    assert up.played_secs is None
    new = msgspec.structs.replace(listen, played_secs=187)
    wire = encode_event(new)
    assert b'"type":"listen_recorded.v2"' in wire
    assert decode_event(wire) == new
    # An unknown field from a newer writer is ignored, not an error.
    assert decode_event(wire.replace(b'"played_secs"', b'"future":1,"played_secs"')) == new


@pytest.mark.parametrize("order", ["v1-first", "interleaved"])
async def test_stream_with_both_versions_projects_and_replays_identically(
    tmp_path: Path, nats_server: EmbeddedNats, order: str
) -> None:
    listens = listens_for(0, 400)
    if order == "v1-first":
        wire: list[Any] = [as_v1(ev) for ev in listens[:200]] + [encode_event(ev) for ev in listens[200:]]
    else:
        wire = [as_v1(ev) if i % 2 else encode_event(ev) for i, ev in enumerate(listens)]
    # The same listens, all written as v2, in a second stream: the reference.
    reference = make_settings(tmp_path / "ref", nats_server.url)
    mixed = make_settings(tmp_path / "mixed", nats_server.url)
    await publish_raw(reference, [encode_event(ev) for ev in listens], users=[ev.user for ev in listens])
    last = await publish_raw(mixed, wire, users=[ev.user for ev in listens])
    async with running_stack(reference) as stack:
        assert await stack.wait_count(400) == 400
    async with running_stack(mixed) as stack:
        assert await stack.wait_count(400) == 400
        assert await wait_position(mixed.db.dsn, last) == last
        projected = await snapshot(mixed.db.dsn)
        nc = await nats.connect(nats_server.url)
        try:
            await replay_sql(nc.jetstream(timeout=10), mixed)
        finally:
            await nc.close()
        assert await snapshot(mixed.db.dsn) == projected
    assert projected == await snapshot(reference.db.dsn)
    assert len(projected["listens"]) == 400
