"""The cube reads listens in bulk from their messages (either version); other events whole."""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime

import msgspec
import pyarrow as pa
import pytest

from projector.folds import cube_listens, cube_rows
from projector.folds.cube_listens import ListenParser
from projector.folds.cube_rows import CubeWrites
from projector.poison import PoisonEvent
from schemas.events import (
    ArtistCredit,
    ConfigChanged,
    ListenEnriched,
    ListenRecorded,
    ListenRecordedV1,
    ListensDeleted,
    encode_event,
)
from schemas.identity import stable_id
from schemas.listens import new_listen

T0 = datetime(2024, 3, 1, 20, 15, tzinfo=UTC)


def _listen(**changes: object) -> ListenRecorded:
    fields: dict[str, object] = {
        "user": "ann",
        "listened_at": T0,
        "title": "One (feat. Beta)",
        "artists": [ArtistCredit(name="Alpha"), ArtistCredit(name="Beta", role="featured")],
        "received_at": T0,
        "album": "Red",
        "album_artist": "Various",
        "duration_secs": 200,
        "genres": ("rock", "pop", "Rock"),
        "client": "Feishin 0.12",
    }
    fields.update(changes)
    return new_listen(**fields)  # type: ignore[arg-type]


def _v1(listen: ListenRecorded) -> ListenRecordedV1:
    fields = msgspec.structs.asdict(listen)
    fields.pop("played_secs")
    return ListenRecordedV1(**fields)


def _fold(batch: list[tuple[int, cube_rows.CubeEvent]]) -> tuple[CubeWrites, list[dict[str, object]]]:
    (step,) = cube_rows.plan(batch)
    assert isinstance(step, CubeWrites)
    facts = ListenParser().fold(step)
    assert facts is not None
    return step, facts.to_pylist()


def test_listens_stay_their_message_and_other_events_decode_whole() -> None:
    for stored in (_listen(), _v1(_listen())):
        data = encode_event(stored)
        assert cube_rows.decode(data) is data
    events = [
        ListensDeleted(event_id="t", occurred_at=T0, user="ann", until=T0),
        ListenEnriched(event_id="e", occurred_at=T0, user="ann", listen_id="x", genres=("jazz",)),
        ConfigChanged(event_id="c", occurred_at=T0, key="default_user", value="ann"),
    ]
    assert [cube_rows.decode(encode_event(ev)) for ev in events] == events


def test_a_listen_folds_into_its_facts_credits_and_genres() -> None:
    listen = _listen()
    step, rows = _fold([(7, encode_event(listen))])
    (row,) = rows
    entry = step.entries[row["credit_key"]]
    assert row == {
        "listen_id": listen.event_id,
        "user_name": "ann",
        "listened_at": T0.replace(tzinfo=None),
        "track_id": stable_id("track", "Alpha", "One (feat. Beta)"),
        "artist_id": stable_id("artist", "Alpha"),
        "album_id": stable_id("album", "Various", "Red"),
        "duration_secs": 200,
        "stream_seq": 7,
        "credit_key": entry.key,
        "genre_key": step.genre_sets[row["genre_key"]].key,
    }
    assert step.credit_map()["artist_id"] == [stable_id("artist", "Alpha"), stable_id("artist", "Beta")]
    assert step.credit_map()["role"] == ["primary", "featured"]
    assert step.genre_map()["genre_id"] == [stable_id("genre", "rock"), stable_id("genre", "pop")]
    assert step.users == {"ann"}


def test_either_version_a_whole_listen_or_a_listen_written_otherwise_fold_alike() -> None:
    listen = _listen()
    reordered = msgspec.json.encode(dict(reversed(msgspec.to_builtins(listen).items())))
    assert not reordered.startswith(b'{"type"')
    ways: list[cube_rows.CubeEvent] = [
        encode_event(listen),
        encode_event(_v1(listen)),
        listen,
        cube_rows.decode(reordered),
    ]
    folded = [_fold([(7, ev)])[1] for ev in ways]
    keyless = [[{k: v for k, v in r.items() if not k.endswith("_key")} for r in rows] for rows in folded]
    assert keyless[1:] == keyless[:1] * 3


def test_a_listen_twice_in_a_step_is_kept_once_the_first() -> None:
    listen = _listen()
    other = _listen(title="Two", album=None, genres=(), duration_secs=None)
    _, rows = _fold([(3, encode_event(listen)), (4, encode_event(other)), (5, encode_event(listen))])
    assert [(r["listen_id"], r["stream_seq"]) for r in rows] == [(listen.event_id, 3), (other.event_id, 4)]
    assert rows[1]["album_id"] is None and rows[1]["genre_key"] is None and rows[1]["duration_secs"] == 0


@pytest.mark.parametrize(
    ("good", "bad"),
    [
        (b'"listened_at":"2024-03-01T20:15:00Z"', b'"listened_at":"yesterday"'),
        (b'"title":"Two",', b""),
        (b'"user":"ann"', b'"user":null'),
        (b'"title":"Two"', b'"title":7'),  # DuckDB reads "7"; msgspec, folding the new entry, does not
    ],
)
def test_a_listen_the_cube_cannot_read_is_a_poison_event_naming_it(good: bytes, bad: bytes) -> None:
    data = encode_event(_listen())
    other = encode_event(_listen(title="Two"))  # another listen id
    assert good in other
    (step,) = cube_rows.plan([(41, data), (42, other.replace(good, bad)), (43, data)])
    assert isinstance(step, CubeWrites)
    with pytest.raises(PoisonEvent) as caught:
        ListenParser().fold(step)
    assert caught.value.seq == 42


def test_the_memos_forget_at_their_bound_and_fold_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    listens = [
        encode_event(_listen(title=t, genres=g, listened_at=T0.replace(minute=i)))
        for i, (t, g) in enumerate([("One", ("rock",)), ("Two", ("pop",)), ("One", ("rock",)), ("Three", ())])
    ]
    batches = [list(enumerate(listens[:2], 1)), list(enumerate(listens[2:], 3))]

    def fold_all() -> list[list[tuple[object, ...]]]:
        parser = ListenParser()
        out = []
        for batch in batches:
            (step,) = cube_rows.plan(batch)
            assert isinstance(step, CubeWrites)
            facts = parser.fold(step)
            assert facts is not None
            out.append(
                [(r["track_id"], r["album_id"], step.genre_map()["genre_id"]) for r in facts.to_pylist()]
            )
        return out

    unbounded = fold_all()
    monkeypatch.setattr(cube_listens, "MEMO_LIMIT", 2)
    assert fold_all() == unbounded


def test_the_memo_forgets_the_least_recently_used_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cube_listens, "MEMO_LIMIT", 3)
    memo: OrderedDict[str, str] = OrderedDict()
    made: list[str] = []

    def step(keys: list[str]) -> list[str]:
        column = pa.chunked_array([pa.array(keys)])

        def new(i: int) -> str:
            made.append(keys[i])
            return keys[i].upper()

        return cube_listens._resolve(memo, cube_listens._codes(column), column, new)

    assert step(["a", "b", "a"]) == ["A", "B"]
    step(["c"])
    step(["a"])  # used again: "b" is now the least recently used
    step(["d"])  # over the limit
    assert list(memo) == ["c", "a", "d"]
    made.clear()
    assert step(["a", "b"]) == ["A", "B"]
    assert made == ["b"]  # "a" was remembered, "b" forgotten
    assert list(memo) == ["d", "a", "b"]
    # A step with more keys than the limit keeps them all until the next step.
    assert step(["p", "q", "r", "s"]) == ["P", "Q", "R", "S"]
    assert list(memo) == ["p", "q", "r", "s"]
