"""The cube's answers equal a plain-Python computation over the same random listens (real DuckDB)."""

from __future__ import annotations

import tempfile
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from query_api.cube import calendar, queries, rollup
from query_api.cube import sink as cube_sink
from query_api.cube.queries import Scope
from query_api.cube.schema import CATALOGUE_DDL, open_cube
from query_api.cube.sink import CubeSink
from schemas.events import ArtistCredit, Event, ListenEnriched, ListenRecorded, ListensDeleted
from schemas.identity import stable_id
from schemas.listens import new_listen

T0 = datetime(2023, 12, 25, tzinfo=UTC)
ARTISTS = ["Alpha", "Beta", "Gamma", "Delta"]
TITLES = ["One", "Two", "Three"]
ALBUMS = [None, "Red", "Blue"]
GENRES = ["rock", "pop", "jazz"]

listens = st.builds(
    lambda user, minutes, artist, feat, title, album, secs, genres: new_listen(
        user=user,
        listened_at=T0 + timedelta(minutes=minutes),
        title=title,
        artists=[ArtistCredit(name=artist)] + ([ArtistCredit(name=feat, role="featured")] if feat else []),
        received_at=T0,
        album=album,
        duration_secs=secs,
        genres=tuple(genres),
    ),
    st.sampled_from(["ann", "bob"]),
    st.integers(0, 60 * 24 * 40),
    st.sampled_from(ARTISTS),
    st.sampled_from([None, *ARTISTS]),
    st.sampled_from(TITLES),
    st.sampled_from(ALBUMS),
    st.sampled_from([None, 60, 200]),
    st.lists(st.sampled_from(GENRES), max_size=2),
)


def _load(events: list[Event], fold_after: int = 10**9) -> tuple[CubeSink, list[ListenRecorded]]:
    """Apply ``events`` in batches of 7; the all-time rollups fold once ``fold_after`` events are unsealed."""
    path = Path(tempfile.mkdtemp()) / "cube.duckdb"
    con, replica = open_cube(path)
    sink = CubeSink(con, f"cube-{replica}", rollup_min_tail=fold_after)
    batch = list(enumerate(events, 1))
    for start in range(0, len(batch), 7):  # several batches, so dedup across batches is exercised
        sink.apply_sync(batch[start : start + 7])
    return sink, _surviving(batch)


def _surviving(batch: list[tuple[int, Event]]) -> list[ListenRecorded]:
    """Plain fold: first arrival of an id wins; a tombstone removes earlier matching listens."""
    kept: dict[str, tuple[int, ListenRecorded]] = {}
    for seq, ev in batch:
        if isinstance(ev, ListenRecorded):
            kept.setdefault(ev.event_id, (seq, ev))
        elif isinstance(ev, ListensDeleted):
            for lid, (s, listen) in list(kept.items()):
                if (
                    s < seq
                    and (ev.user is None or listen.user == ev.user)
                    and (ev.since is None or listen.listened_at >= ev.since)
                    and (ev.until is None or listen.listened_at < ev.until)
                ):
                    del kept[lid]
    return [listen for _, listen in kept.values()]


def _in(listen: ListenRecorded, scope: Scope) -> bool:
    return (
        (scope.user is None or listen.user == scope.user)
        and (scope.since is None or listen.listened_at >= scope.since)
        and (scope.until is None or listen.listened_at < scope.until)
    )


def _expected_artists(rows: list[ListenRecorded], scope: Scope) -> list[tuple[str, int, int]]:
    n: Counter[str] = Counter()
    secs: Counter[str] = Counter()
    for listen in rows:
        if not _in(listen, scope):
            continue
        for name in dict.fromkeys(a.name for a in listen.artists):
            n[name] += 1
            secs[name] += listen.duration_secs or 0
    ranked = sorted(n, key=lambda a: (-n[a], -secs[a], a, stable_id("artist", a)))
    return [(a, n[a], secs[a]) for a in ranked]


scopes = st.builds(
    lambda user, start, days: Scope(
        user=user,
        since=None if start is None else T0 + timedelta(days=start),
        until=None if start is None else T0 + timedelta(days=start + days),
    ),
    st.sampled_from([None, "ann"]),
    st.sampled_from([None, 0, 3, 10]),
    st.sampled_from([1, 7, 30]),
)

tombstones = st.builds(
    lambda user, start, days: ListensDeleted(
        event_id="tomb",
        occurred_at=T0,
        user=user,
        since=T0 + timedelta(days=start),
        until=T0 + timedelta(days=start + days),
    ),
    st.sampled_from([None, "bob"]),
    st.integers(0, 30),
    st.integers(1, 10),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(listens, listens, listens, tombstones), min_size=1, max_size=60).map(
        lambda evs: evs + [e for e in evs[:5] if isinstance(e, ListenRecorded)]  # duplicates arrive again
    ),
    scopes,
    st.sampled_from([1, 8, 10**9]),
)
def test_cube_matches_plain_python(events: list[Event], scope: Scope, fold_after: int) -> None:
    """Every statistic, with the all-time rollups folded often, sometimes, or never (all tail)."""
    sink, rows = _load(events, fold_after)
    _assert_catalogue_names_each_id_once(sink)
    cur = sink.con.cursor()
    try:
        inside = [r for r in rows if _in(r, scope)]
        # top artists (every credit counts once per listen), with total
        items, total = queries.ranked(cur, "artists", scope, limit=500)
        expected = _expected_artists(rows, scope)
        assert [(i.name, i.listens, i.listening_secs) for i in items] == expected
        assert total == len(expected)
        # top tracks by listening time
        tracks, _ = queries.ranked(cur, "tracks", scope, by="time", limit=500)
        tn: Counter[int] = Counter(stable_id("track", r.artists[0].name, r.title) for r in inside)
        ts: Counter[int] = Counter()
        for r in inside:
            ts[stable_id("track", r.artists[0].name, r.title)] += r.duration_secs or 0
        assert {int(t.id): (t.listens, t.listening_secs) for t in tracks} == {k: (tn[k], ts[k]) for k in tn}
        assert [t.listening_secs for t in tracks] == sorted((t.listening_secs for t in tracks), reverse=True)
        # genres: a listen counts once per distinct genre
        genres, _ = queries.ranked(cur, "genres", scope, limit=500)
        gn: Counter[str] = Counter(g for r in inside for g in set(r.genres))
        assert {g.name: g.listens for g in genres} == dict(gn)
        # KPIs
        k = queries.kpis(cur, scope)
        assert k.listens == len(inside)
        assert k.listening_secs == sum(r.duration_secs or 0 for r in inside)
        assert k.artists == len({a.name for r in inside for a in r.artists})
        assert k.albums == len({(r.artists[0].name, r.album) for r in inside if r.album})
        assert k.genres == len(gn)
        assert k.active_days == len({r.listened_at.date() for r in inside})
        # heatmap
        cells = {(c.weekday, c.hour): c.listens for c in queries.heatmap(cur, scope)}
        assert len(cells) == 168
        assert cells == {
            (d, h): sum(1 for r in inside if (r.listened_at.weekday(), r.listened_at.hour) == (d, h))
            for d in range(7)
            for h in range(24)
        }
        # timeline by week: no gaps, sums match
        points = queries.timeline(cur, scope, "week")
        per_week: Counter[date] = Counter(calendar.bucket_start(r.listened_at.date(), "week") for r in inside)
        assert {p.start: p.listens for p in points if p.listens} == dict(per_week)
        assert all(
            b - a == timedelta(days=7)
            for a, b in zip([p.start for p in points], [p.start for p in points][1:], strict=False)
        )
        # streaks
        longest, _ = calendar.streaks(queries.active_days(cur, scope), date(2030, 1, 1))
        days = sorted({r.listened_at.date() for r in inside})
        best = run = 0
        for i, d in enumerate(days):
            run = run + 1 if i and d - days[i - 1] == timedelta(days=1) else 1
            best = max(best, run)
        assert (longest.days if longest else 0) == best
        # discoveries: first listen of the user ever inside the window
        found = {d.name: d.listens for d in queries.discoveries(cur, "artists", scope, 500)}
        first: dict[str, datetime] = {}
        count: Counter[str] = Counter()
        for r in rows:
            if scope.user is not None and r.user != scope.user:
                continue
            for name in {a.name for a in r.artists}:
                first[name] = min(first.get(name, r.listened_at), r.listened_at)
                if _in(r, scope):
                    count[name] += 1
        want = {
            a: count[a]
            for a, t in first.items()
            if (scope.since is None or t >= scope.since) and (scope.until is None or t < scope.until)
        }
        assert found == want
    finally:
        cur.close()
        sink.close()
        sink.con.close()


def test_rebuild_from_the_same_events_gives_identical_tables() -> None:
    events: list[Event] = [
        new_listen(
            user="ann",
            listened_at=T0 + timedelta(hours=i),
            title=TITLES[i % 3],
            artists=[ArtistCredit(name=ARTISTS[i % 4])],
            received_at=T0,
            duration_secs=100,
            genres=(GENRES[i % 3],),
        )
        for i in range(50)
    ]
    events.insert(
        30, ListensDeleted(event_id="t", occurred_at=T0, user="ann", until=T0 + timedelta(hours=10))
    )
    first, _ = _load(events)
    again, _ = _load(events)
    for table in ("listens", "credits", "listen_genres", "artists", "tracks", "genres"):
        query = f"SELECT * FROM {table} ORDER BY ALL"
        assert first.con.execute(query).fetchall() == again.con.execute(query).fetchall()
    # a redelivered batch changes nothing
    before = first.con.execute("SELECT count(*) FROM listens").fetchall()
    assert first.apply_sync(list(enumerate(events, 1))) is None
    assert first.con.execute("SELECT count(*) FROM listens").fetchall() == before


def _assert_catalogue_names_each_id_once(sink: CubeSink) -> None:
    for table in CATALOGUE_DDL:
        dupes = sink.con.execute(f"SELECT id FROM {table} GROUP BY id HAVING count(*) > 1").fetchall()
        assert dupes == [], f"{table} names an id twice"


@pytest.mark.parametrize("known_limit", [cube_sink.KNOWN_LIMIT, 2])
def test_catalogue_rows_are_written_once_across_batches_and_restarts(
    known_limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The catalogue tables have no key: the sink alone keeps one row per id, also when a new sink
    (a restarted query API) meets ids the file already has, and when a tombstone splits a batch
    into two write steps that name the same artists in one transaction. With a tiny bound the
    sink soon forgets what it wrote and looks ids up in the tables instead."""
    monkeypatch.setattr(cube_sink, "KNOWN_LIMIT", known_limit)
    feat = ("Alpha", "Epsilon")  # Epsilon is new to the restarted sink, on both sides of the tombstone
    events: list[Event] = [
        new_listen(
            user="ann",
            listened_at=T0 + timedelta(hours=i),
            title=TITLES[i % 3],
            artists=[ArtistCredit(name=ARTISTS[i % 4]), ArtistCredit(name=feat[i >= 20], role="featured")],
            album=ALBUMS[i % 3],
            received_at=T0,
            genres=(GENRES[i % 3], "Rock"),
        )
        for i in range(40)
    ]
    events.insert(30, ListensDeleted(event_id="t", occurred_at=T0, user="ann", until=T0))
    first, _ = _load(events[:20])
    restarted = CubeSink(first.con, first.name)
    restarted.apply_sync(list(enumerate(events, 1))[20:])
    _assert_catalogue_names_each_id_once(restarted)
    counts = [first.con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in CATALOGUE_DDL]
    # artists; albums and tracks are per primary artist; "Rock" is "rock"
    assert counts == [5, 8, 12, 3]


def test_a_cube_file_with_keyed_catalogue_tables_is_rebuilt_without_the_keys() -> None:
    path = Path(tempfile.mkdtemp()) / "cube.duckdb"
    old = duckdb.connect(str(path))
    old.execute("CREATE TABLE artists (id BIGINT PRIMARY KEY, name VARCHAR NOT NULL)")
    old.execute(
        "CREATE TABLE tracks (id BIGINT PRIMARY KEY, title VARCHAR NOT NULL, artist_name VARCHAR NOT NULL)"
    )
    old.execute("INSERT INTO artists VALUES (1, 'Alpha'), (2, 'Beta')")
    old.execute("INSERT INTO tracks VALUES (7, 'One', 'Alpha')")
    old.close()
    con, _ = open_cube(path)
    keys = con.execute("SELECT table_name FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY'")
    assert not {r[0] for r in keys.fetchall()} & set(CATALOGUE_DDL)
    assert con.execute("SELECT * FROM artists ORDER BY id").fetchall() == [(1, "Alpha"), (2, "Beta")]
    assert con.execute("SELECT * FROM tracks").fetchall() == [(7, "One", "Alpha")]
    with pytest.raises(duckdb.ConstraintException):  # the NOT NULLs stay
        con.execute("INSERT INTO artists VALUES (3, NULL)")
    con.close()


def test_listen_resubmitted_after_tombstone_comes_back() -> None:
    one = new_listen(
        user="ann", listened_at=T0, title="One", artists=[ArtistCredit(name="Alpha")], received_at=T0
    )
    sink, _ = _load([one, ListensDeleted(event_id="t", occurred_at=T0, listen_ids=(one.event_id,)), one, one])
    assert sink.con.execute("SELECT count(*) FROM listens").fetchall() == [(1,)]
    assert sink.con.execute("SELECT count(*) FROM credits").fetchall() == [(1,)]


def test_rollups_follow_enrichment_and_tombstones_of_sealed_listens() -> None:
    """A genre learned, and a listen deleted, after the rollups sealed it show in all-time answers."""
    one, two = (
        new_listen(
            user=user, listened_at=T0, title="One", artists=[ArtistCredit(name="Alpha")], received_at=T0
        )
        for user in ("ann", "bob")
    )
    sink, _ = _load([one, two], fold_after=1)
    cur = sink.con.cursor()
    assert rollup.rollup_seq(cur) == 2
    assert cur.execute("SELECT count(*) FROM rollup_artists").fetchall() == [(3,)]  # ann, bob, everyone
    enriched = ListenEnriched(
        event_id="e", occurred_at=T0, user="ann", listen_id=one.event_id, genres=("rock",)
    )
    sink.rollup_min_tail = 10**9  # keep what follows in deltas and the tail, unfolded
    sink.apply_sync([(3, enriched)])
    everyone, ann = Scope(), Scope(user="ann")
    assert [(g.name, g.listens) for g in queries.ranked(cur, "genres", everyone)[0]] == [("rock", 1)]
    assert queries.kpis(cur, ann).genres == 1
    sink.apply_sync([(4, ListensDeleted(event_id="t", occurred_at=T0, listen_ids=(one.event_id,)))])
    assert queries.ranked(cur, "genres", everyone) == ([], 0)
    assert [(a.name, a.listens) for a in queries.ranked(cur, "artists", everyone)[0]] == [("Alpha", 1)]
    assert queries.kpis(cur, ann).listens == 0
    assert queries.kpis(cur, Scope()).listens == 1
    # folding the deltas changes no answer; a compacting fold leaves no row of a key summing to zero
    sink.rollup_min_tail = 1
    assert sink.fold_if_due(force=True)
    assert [(a.name, a.listens) for a in queries.ranked(cur, "artists", everyone)[0]] == [("Alpha", 1)]
    assert queries.ranked(cur, "genres", everyone) == ([], 0)
    assert cur.execute("SELECT count(*) FROM rollup_genres").fetchall() == [(0,)]
    cur.close()
    sink.close()
    sink.con.close()


def test_background_folds_while_batches_commit_change_no_answer() -> None:
    """Folds on their own thread, racing batches with tombstones, agree with a cube that never folds."""
    events: list[Event] = []
    for i in range(600):
        events.append(
            new_listen(
                user=("ann", "bob", "cy")[i % 3],
                listened_at=T0 + timedelta(minutes=37 * i),
                title=TITLES[i % 3],
                artists=[ArtistCredit(name=ARTISTS[i % 4])],
                received_at=T0,
                duration_secs=60 + i % 7,
                genres=(GENRES[i % 3],),
            )
        )
        if i % 97 == 96:
            events.append(
                ListensDeleted(
                    event_id=f"t{i}",
                    occurred_at=T0,
                    user="bob",
                    since=T0 + timedelta(minutes=37 * (i - 150)),
                    until=T0 + timedelta(minutes=37 * (i - 100)),
                )
            )
    plain, _ = _load(events)
    path = Path(tempfile.mkdtemp()) / "cube.duckdb"
    con, replica = open_cube(path)
    racing = CubeSink(con, f"cube-{replica}", rollup_min_tail=5, background_fold=True)
    batch = list(enumerate(events, 1))
    for start in range(0, len(batch), 7):
        racing.apply_sync(batch[start : start + 7])
    racing.close()  # waits for the last fold
    assert rollup.rollup_seq(con) > 0
    for scope in (Scope(), Scope(user="bob")):
        for kind in ("artists", "albums", "tracks", "genres"):
            assert queries.ranked(con.cursor(), kind, scope, limit=50) == queries.ranked(
                plain.con.cursor(), kind, scope, limit=50
            )
        assert queries.kpis(con.cursor(), scope) == queries.kpis(plain.con.cursor(), scope)
        assert queries.heatmap(con.cursor(), scope) == queries.heatmap(plain.con.cursor(), scope)
    plain.close()
    for c in (con, plain.con):
        c.close()


def test_streaks_current_and_longest() -> None:
    d = date(2024, 1, 1)
    days = [d, d + timedelta(1), d + timedelta(2), d + timedelta(10), d + timedelta(11)]
    longest, current = calendar.streaks(days, d + timedelta(12))
    assert longest == calendar.Streak(d, d + timedelta(2), 3)
    assert current == calendar.Streak(d + timedelta(10), d + timedelta(11), 2)
    assert calendar.streaks(days, d + timedelta(13))[1] is None
    assert calendar.streaks([], d) == (None, None)


def test_lb_windows() -> None:
    now = datetime(2024, 5, 15, 10, tzinfo=UTC)  # a Wednesday
    assert calendar.lb_window("week", now).since == datetime(2024, 5, 6, tzinfo=UTC)
    assert calendar.lb_window("month", now).since == datetime(2024, 4, 1, tzinfo=UTC)
    assert calendar.lb_window("quarter", now).since == datetime(2024, 1, 1, tzinfo=UTC)
    assert calendar.lb_window("quarter", now).until == datetime(2024, 4, 1, tzinfo=UTC)
    assert calendar.lb_window("half_yearly", now).since == datetime(2023, 7, 1, tzinfo=UTC)
    assert calendar.lb_window("year", now).until == datetime(2024, 1, 1, tzinfo=UTC)
    assert calendar.lb_window("this_month", now).since == datetime(2024, 5, 1, tzinfo=UTC)


def _hourly(n: int) -> list[Event]:
    """``n`` listens an hour apart, alternating two users over a few artists, titles and albums."""
    return [
        new_listen(
            user=("ann", "bob")[i % 2],
            listened_at=T0 + timedelta(hours=i),
            title=TITLES[i % 3],
            artists=[ArtistCredit(name=ARTISTS[i % 4])],
            album=ALBUMS[i % 3],
            received_at=T0,
            duration_secs=60,
            genres=(GENRES[i % 3],),
        )
        for i in range(n)
    ]


def test_folds_append_their_tail_and_every_few_rewrite_one_row_per_key() -> None:
    """Most folds append the tail's aggregates (keys repeat), every COMPACT_EVERY-th rewrites the
    rollups with one row per key; the answers are the plain cube's throughout."""
    events = _hourly(7 * rollup.COMPACT_EVERY)
    path = Path(tempfile.mkdtemp()) / "cube.duckdb"
    con, replica = open_cube(path)
    sink = CubeSink(con, f"cube-{replica}")
    batch = list(enumerate(events, 1))

    def repeated_keys() -> int:
        found = con.execute("SELECT count(*) - count(DISTINCT (user_name, id)) FROM rollup_artists")
        return int(found.fetchall()[0][0])

    for fold in range(1, rollup.COMPACT_EVERY + 1):
        sink.apply_sync(batch[7 * (fold - 1) : 7 * fold])
        assert sink.fold_if_due(force=False) is False  # not due: folded below, by hand
        cur = con.cursor()
        cur.execute("BEGIN TRANSACTION")
        rollup.fold(cur, 7 * fold)
        cur.execute("COMMIT")
        assert rollup.rollup_seq(con) == 7 * fold
        if fold == 1:
            assert repeated_keys() == 0  # the first tail, appended to nothing
        elif fold < rollup.COMPACT_EVERY:
            assert repeated_keys() > 0
        else:
            assert repeated_keys() == 0
        plain, _ = _load(events[: 7 * fold])  # never folded
        for scope in (Scope(), Scope(user="bob")):
            for kind in ("artists", "albums", "tracks", "genres"):
                assert queries.ranked(con.cursor(), kind, scope, limit=50) == queries.ranked(
                    plain.con.cursor(), kind, scope, limit=50
                )
            assert queries.kpis(con.cursor(), scope) == queries.kpis(plain.con.cursor(), scope)


def test_a_live_cube_far_behind_the_stream_folds_once_it_is_nearly_live() -> None:
    """While the projection reports FOLD_BACKLOG events or more still to come, batches commit
    without folding; the first batch applied nearly live folds the whole tail."""
    events = _hourly(40)
    path = Path(tempfile.mkdtemp()) / "cube.duckdb"
    con, replica = open_cube(path)
    backlog = [cube_sink.FOLD_BACKLOG]
    sink = CubeSink(con, f"cube-{replica}", rollup_min_tail=5, background_fold=True)
    sink.backlog = lambda: backlog[0]
    batch = list(enumerate(events, 1))
    for start in range(0, 30, 5):
        sink.apply_sync(batch[start : start + 5])
    sink._folder.submit(lambda: None).result()  # whatever was submitted has run
    assert rollup.rollup_seq(con) == 0
    backlog[0] = cube_sink.FOLD_BACKLOG - 1
    sink.apply_sync(batch[30:40])
    sink.close()  # waits for the fold
    assert rollup.rollup_seq(con) == 40
    plain, _ = _load(events)
    assert queries.kpis(con.cursor(), Scope()) == queries.kpis(plain.con.cursor(), Scope())
    plain.close()
    for c in (con, plain.con):
        c.close()


def test_open_cube_caps_duckdb_memory(tmp_path: Path) -> None:
    """The cube's connection takes ``SCROBBLER_CUBE_MEMORY_LIMIT`` (without it DuckDB would cache
    the file's blocks up to 80% of the machine's memory)."""
    con, _ = open_cube(tmp_path / "cube.duckdb", memory_limit="256MB")
    try:
        row = con.execute("SELECT current_setting('memory_limit')").fetchone()
        assert row is not None
        assert row[0] in {"256.0 MB", "244.1 MiB"}
    finally:
        con.close()
