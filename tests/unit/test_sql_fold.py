"""The pure fold of events into SQL row changes: table-driven, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from projector.folds.sql_rows import COLUMNS, Delete, GenreAddition, Writes, plan
from projector.tables import metadata
from schemas.events import (
    ArtistCredit,
    ConfigChanged,
    Event,
    JobUpdated,
    ListenEnriched,
    ListensDeleted,
    TokenIssued,
    TokenRevoked,
)
from schemas.listens import new_listen

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def listen(user: str = "ann", title: str = "Song", genres: tuple[str, ...] = ("rock",)) -> Event:
    return new_listen(
        user=user,
        listened_at=T0,
        title=title,
        artists=[ArtistCredit(name="Band"), ArtistCredit(name="Guest", role="featured")],
        received_at=T0,
        album="Record",
        genres=genres,
        duration_secs=180,
    )


def tomb(user: str | None = None) -> Event:
    return ListensDeleted(event_id="t", occurred_at=T0, user=user)


def test_listen_becomes_rows_in_every_table() -> None:
    (step,) = plan([(1, listen())])
    assert isinstance(step, Writes)
    (row,) = step.records("listens")
    assert row["user_name"] == "ann"
    assert row["stream_seq"] == 1
    assert row["listened_at"] == datetime(2024, 5, 1, 10, 0)  # naive UTC
    assert row["received_at"] == datetime(2024, 5, 1, 10, 0)
    assert row["duration_secs"] == 180 and row["source"] == "lms" and row["extra"] is None
    credits = step.records("credit_sets")
    assert [(r["position"], r["role"]) for r in credits] == [(0, "primary"), (1, "featured")]
    assert {r["set_id"] for r in credits} == {row["credit_set_id"]}
    (genre_set,) = step.records("genre_sets")
    assert genre_set == {"set_id": row["genre_set_id"], "genre_id": step.records("genres")[0]["id"]}
    assert [a["name"] for a in step.records("artists")] == ["Band", "Guest"]
    assert [r["artist_id"] for r in credits] == [a["id"] for a in step.records("artists")]
    assert row["artist_id"] == credits[0]["artist_id"]
    (album,) = step.records("albums")
    assert (album["title"], album["artist_name"], row["album_id"]) == ("Record", "Band", album["id"])
    (track,) = step.records("tracks")
    assert (track["title"], track["artist_name"], track["duration_secs"]) == ("Song", "Band", 180)
    assert row["track_id"] == track["id"]
    assert [g["name"] for g in step.records("genres")] == ["rock"]
    assert step.records("users") == [{"name": "ann", "created_at": datetime(2024, 5, 1, 10, 0)}]


@pytest.mark.parametrize("name", sorted(COLUMNS))
def test_row_columns_are_the_tables_own(name: str) -> None:
    """Rows are positional: their columns exist in the table, in the table's order."""
    table = metadata.tables[name]
    order = [c.name for c in table.columns]
    assert [c for c in order if c in COLUMNS[name]] == list(COLUMNS[name])
    assert all(c.nullable or c.name in COLUMNS[name] or c.default is not None for c in table.columns)


def test_same_genre_twice_on_a_listen_is_one_row() -> None:
    (step,) = plan([(1, listen(genres=("Rock", "rock", "Pop")))])
    assert isinstance(step, Writes)
    assert len(step.records("genre_sets")) == 2


@pytest.mark.parametrize(
    ("events", "shape"),
    [
        ([listen(), listen(title="B")], ["W"]),
        ([listen(), tomb()], ["W", "D"]),
        ([tomb(), listen()], ["D", "W"]),
        ([listen(), tomb("ann"), listen(title="B"), tomb()], ["W", "D", "W", "D"]),
        ([tomb(), tomb()], ["D", "D"]),
    ],
)
def test_tombstones_split_a_batch_in_stream_order(events: list[Event], shape: list[str]) -> None:
    steps = plan(list(enumerate(events, start=10)))
    assert ["D" if isinstance(s, Delete) else "W" for s in steps] == shape
    for s in steps:
        if isinstance(s, Delete):
            # A tombstone deletes only what precedes it in the stream.
            assert s.before_seq in range(10, 10 + len(events))


def test_config_jobs_tokens_last_write_wins_within_a_batch() -> None:
    events: list[Event] = [
        ConfigChanged(event_id="1", occurred_at=T0, key="default_user", value="a"),
        ConfigChanged(event_id="2", occurred_at=T0, key="default_user", value="b"),
        JobUpdated(event_id="3", occurred_at=T0, job_id="j", kind="import", status="running"),
        JobUpdated(event_id="4", occurred_at=T0, job_id="j", kind="import", status="done", progress={"n": 3}),
        TokenIssued(event_id="5", occurred_at=T0, user="ann", token_sha256="ab", prefix="tok"),
        TokenRevoked(event_id="6", occurred_at=T0, user="ann", token_sha256="ab"),
        ListenEnriched(event_id="7", occurred_at=T0, user="ann", listen_id="L", genres=("jazz",)),
    ]
    (step,) = plan(list(enumerate(events, start=1)))
    assert isinstance(step, Writes)
    assert step.config["default_user"]["value"] == "b"
    assert step.jobs["j"]["status"] == "done" and step.jobs["j"]["progress"] == '{"n":3}'
    assert "ab" in step.tokens and "ab" in step.token_revocations
    assert step.genre_additions == [GenreAddition(7, "L", (next(iter(step.genres)),))]
    assert step.genre_sets == {}  # the listen's new set is made where its current one is known


def test_empty_batch_plans_nothing() -> None:
    assert plan([]) == []
