"""The cube's listen fold, vectorised: a step's raw listens become one Arrow table of facts.

The cube reads nine fields of a listen. Decoding each message into a Python object, then
turning those objects back into columns, had cost the cube's folding loop most of its time
(about 17 µs a listen), and it held the GIL all along. Here DuckDB, in memory and on no file,
parses a step's messages in one statement (``from_json``, C++, the GIL released) and names each
listen's catalogue entry and genre set by a digest of the fields that decide them. Python only
looks those digests up in two memos, and reads with msgspec and folds what it has not met yet
(:func:`projector.folds.cube_rows.entry_of`): in a steady stream, the long tail of the catalogue,
not every listen. A listen that comes twice in the step is kept once (the first).

No I/O: the in-memory database is a computing engine, and the memos never change a result.
A message DuckDB cannot read as a listen is found again with msgspec, which names the problem,
and raised as :class:`PoisonEvent`: the projection stops there instead of skipping it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import duckdb
import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from projector.folds.cube_rows import (
    CREDIT_KEY,
    GENRE_KEY,
    MEMO_LIMIT,
    CatalogueEntry,
    CubeWrites,
    GenreSet,
    entry_of,
    genre_set,
)
from projector.poison import PoisonEvent
from schemas.events import ArtistCredit, ListenRecorded, decode_event

__all__ = ["ListenParser", "parser"]

_SHAPE = msgspec.json.encode(
    {
        "event_id": "VARCHAR",
        "user": "VARCHAR",
        "listened_at": "TIMESTAMPTZ",
        "title": "VARCHAR",
        "artists": [{"name": "VARCHAR", "role": "VARCHAR"}],
        "album": "VARCHAR",
        "album_artist": "VARCHAR",
        "duration_secs": "INTEGER",
        "genres": ["VARCHAR"],
    }
).decode()
"""The fields of a listen (either version) that the cube reads, as DuckDB's ``from_json`` types."""

_FACTS = f"""
SELECT j.event_id AS listen_id, j.user AS user_name,
       date_trunc('second', j.listened_at::TIMESTAMP) AS listened_at,
       coalesce(j.duration_secs, 0) AS duration_secs, seq AS stream_seq,
       md5(to_json({{'a': j.artists, 't': j.title, 'l': j.album, 'r': j.album_artist}})) AS ckey,
       CASE WHEN len(j.genres) > 0 THEN md5(to_json(j.genres)) END AS gkey,
       j.event_id IS NOT NULL AND j.user IS NOT NULL AND j.listened_at IS NOT NULL
           AND j.title IS NOT NULL AND j.artists IS NOT NULL AS complete
FROM (SELECT seq, from_json(payload, '{_SHAPE}') AS j FROM raw_listens)
"""
"""A step's listens (``raw_listens``: seq, payload) as fact columns, in stream order (one thread
keeps the scan's order), with the digests of their catalogue entry (credits, title, album, album
artist) and genre set, and whether every field a fact needs is there."""


class _Shared(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What a listen shares with the other plays of its track: read by msgspec for a new digest."""

    title: str
    artists: tuple[ArtistCredit, ...]
    album: str | None = None
    album_artist: str | None = None
    genres: tuple[str, ...] = ()


_SHARED = msgspec.json.Decoder(_Shared)


class ListenParser:
    """Folds raw listens into facts with an in-memory DuckDB; one per process (:func:`parser`).

    Thread-safe: the query API's loop prepares a batch while its writer thread may fold a
    redelivered one; both go through one connection and the memos under a lock.
    """

    def __init__(self) -> None:
        self._con = duckdb.connect()
        # One thread: a step is a few thousand rows, too few to split, and the scan keeps its order.
        self._con.execute("SET threads = 1; SET TimeZone = 'UTC'")
        self._lock = threading.Lock()
        self._entries: dict[str, CatalogueEntry] = {}
        self._genre_sets: dict[str, GenreSet] = {}

    def fold(self, w: CubeWrites) -> pa.Table | None:
        """The step's listens as facts (:data:`~projector.folds.cube_rows.LISTEN_COLUMNS` and the
        two keys), its catalogue entries, genre sets and users added to ``w``; None without listens."""
        if not w.listens:
            return None
        payloads = [p for _, p in w.listens]
        raw_listens = pa.table(  # noqa: F841  (read by the statement below)
            {
                "seq": pa.array([s for s, _ in w.listens], pa.int64()),
                "payload": pa.array(payloads, pa.binary()).view(pa.string()),
            }
        )
        with self._lock:
            try:
                facts = self._con.sql(_FACTS).to_arrow_table()
            except duckdb.Error as exc:
                raise _poison(w.listens, exc) from exc
            if not pc.all(facts["complete"]).as_py():
                raise _poison(w.listens, None)
            ids = facts["listen_id"]
            first = pc.unique(ids)
            if len(first) < len(ids):  # a listen twice in the step: keep the first
                at = pc.index_in(first, value_set=ids)
                facts = facts.take(at)
                payloads = [payloads[i] for i in at.to_pylist()]
            try:
                entries = self._entries_of(facts["ckey"].to_pylist(), payloads)
                genre_sets = self._genre_sets_of(facts["gkey"].to_pylist(), payloads)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:  # DuckDB read more leniently
                raise _poison(w.listens, None) from exc
        w.entries.update({e.key: e for e in entries})
        w.genre_sets.update({g.key: g for g in genre_sets if g is not None})
        w.users.update(pc.unique(facts["user_name"]).to_pylist())
        track_ids, artist_ids, album_ids, credit_keys = zip(*[e.columns for e in entries], strict=True)
        return pa.table(
            {
                "listen_id": facts["listen_id"],
                "user_name": facts["user_name"],
                "listened_at": facts["listened_at"],
                "track_id": pa.array(track_ids, pa.int64()),
                "artist_id": pa.array(artist_ids, pa.int64()),
                "album_id": pa.array(album_ids, pa.int64()),
                "duration_secs": facts["duration_secs"],
                "stream_seq": facts["stream_seq"],
                CREDIT_KEY: pa.array(credit_keys, pa.int64()),
                GENRE_KEY: pa.array([None if g is None else g.key for g in genre_sets], pa.int64()),
            }
        )

    def _entries_of(self, ckeys: list[str], payloads: list[bytes]) -> list[CatalogueEntry]:
        def new(i: int) -> CatalogueEntry:
            ev = _SHARED.decode(payloads[i])
            return entry_of(ev.artists, ev.title, ev.album, ev.album_artist)

        memo = _resolve(self._entries, ckeys, new)
        return [memo[k] for k in ckeys]

    def _genre_sets_of(self, gkeys: list[str | None], payloads: list[bytes]) -> list[GenreSet | None]:
        memo = _resolve(self._genre_sets, gkeys, lambda i: genre_set(_SHARED.decode(payloads[i]).genres))
        return [None if k is None else memo[k] for k in gkeys]


V = TypeVar("V")


def _resolve(memo: dict[str, V], keys: Sequence[str | None], new: Callable[[int], V]) -> dict[str, V]:
    """``memo``, holding every key of ``keys`` (None stands for nothing): a key it lacks gets
    ``new(i)``, ``i`` a position where it occurs. Past :data:`MEMO_LIMIT` it starts afresh, keeping
    what ``keys`` already found."""
    missing = {k: i for i, k in enumerate(keys) if k is not None and k not in memo}
    if not missing:
        return memo
    if len(memo) + len(missing) > MEMO_LIMIT:
        kept = {k: memo[k] for k in keys if k is not None and k in memo}
        memo.clear()
        memo.update(kept)
    for k, i in missing.items():
        memo[k] = new(i)
    return memo


def _poison(listens: Sequence[tuple[int, bytes]], error: duckdb.Error | None) -> Exception:
    """The first listen of ``listens`` that msgspec rejects, as a :class:`PoisonEvent`; ``error``
    itself when msgspec reads every one (DuckDB failed for another reason)."""
    for seq, payload in listens:
        try:
            event: Any = decode_event(payload)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return PoisonEvent(seq, str(exc))
        if not isinstance(event, ListenRecorded):
            return PoisonEvent(seq, f"not a listen: {type(event).__name__}")
    return error if error is not None else RuntimeError("the cube could not read a batch of listens")


_parser: ListenParser | None = None
_parser_lock = threading.Lock()


def parser() -> ListenParser:
    """The process's parser (created on first use: an in-memory DuckDB is cheap, not free)."""
    global _parser
    with _parser_lock:
        if _parser is None:
            _parser = ListenParser()
        return _parser
