"""The cube decodes only what it folds: listens of either version, every other event whole."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from projector.folds import cube_rows
from projector.folds.cube_rows import CubeListen, CubeWrites
from projector.runner import PoisonEvent, decode_all
from schemas.events import (
    ArtistCredit,
    ConfigChanged,
    ListenEnriched,
    ListenRecorded,
    ListenRecordedV1,
    ListensDeleted,
    encode_event,
)
from schemas.listens import new_listen

T0 = datetime(2024, 3, 1, 20, 15, tzinfo=UTC)


def _listen() -> ListenRecorded:
    return new_listen(
        user="ann",
        listened_at=T0,
        title="One (feat. Beta)",
        artists=[ArtistCredit(name="Alpha"), ArtistCredit(name="Beta", role="featured")],
        received_at=T0,
        album="Red",
        album_artist="Various",
        duration_secs=200,
        genres=("rock", "pop"),
        client="Feishin 0.12",
    )


def test_listens_of_both_versions_decode_to_the_fields_the_cube_reads() -> None:
    listen = _listen()
    fields = msgspec.structs.asdict(listen)
    fields.pop("played_secs")
    v1 = ListenRecordedV1(**fields)
    for stored in (listen, v1):
        got = cube_rows.decode(encode_event(stored))
        assert isinstance(got, CubeListen)
        assert {f: getattr(got, f) for f in CubeListen.__struct_fields__} == {
            f: getattr(listen, f) for f in CubeListen.__struct_fields__
        }


def test_other_events_decode_whole() -> None:
    events = [
        ListensDeleted(event_id="t", occurred_at=T0, user="ann", until=T0),
        ListenEnriched(event_id="e", occurred_at=T0, user="ann", listen_id="x", genres=("jazz",)),
        ConfigChanged(event_id="c", occurred_at=T0, key="default_user", value="ann"),
    ]
    assert [cube_rows.decode(encode_event(ev)) for ev in events] == events


def test_the_fold_gives_the_same_rows_from_either_decoding() -> None:
    listen = _listen()
    whole, light = (cube_rows.plan([(7, ev)]) for ev in (listen, cube_rows.decode(encode_event(listen))))
    assert isinstance(whole[0], CubeWrites) and isinstance(light[0], CubeWrites)
    assert whole[0].rows == light[0].rows
    assert whole[0].credit_map() == light[0].credit_map()
    assert whole[0].genre_map() == light[0].genre_map()


def test_a_listen_the_cube_cannot_read_is_a_poison_event() -> None:
    bad = encode_event(_listen()).replace(b'"title":"One (feat. Beta)"', b'"title":7')
    with pytest.raises(PoisonEvent) as caught:
        decode_all(cube_rows.decode, [(41, encode_event(_listen())), (42, bad)])
    assert caught.value.seq == 42


def test_cube_listen_declares_its_fields_as_the_event_does() -> None:
    """CubeListen repeats some of ListenRecorded's fields on purpose (a typed subset msgspec decodes
    without the rest); they must keep the event's types and defaults."""
    ours = {f.name: (f.type, f.default) for f in msgspec.structs.fields(CubeListen)}
    event = {f.name: (f.type, f.default) for f in msgspec.structs.fields(ListenRecorded)}
    assert ours == {name: event[name] for name in ours}
