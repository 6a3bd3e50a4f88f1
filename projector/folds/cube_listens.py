"""The cube's listen fold, vectorised: a step's raw listens become one Arrow table of facts.

The cube reads nine fields of a listen. Decoding each message into a Python object, then
turning those objects back into columns, had cost the cube's folding loop most of its time
(about 17 µs a listen), and it held the GIL all along. Here DuckDB, in memory and on no file,
parses a step's messages in one statement (``from_json``, C++, the GIL released) and names each
listen's catalogue entry and genre set by a digest of the fields that decide them. Python only
looks each distinct digest of the step up in two memos (Arrow's dictionary encoding gives each
listen the index of its digest, and each column is taken by those indices), and reads with
msgspec and folds what it has not met yet
(:func:`projector.folds.cube_rows.entry_of`): in a steady stream, the long tail of the catalogue,
not every listen. A listen that comes twice in the step is kept once (the first).

No I/O: the in-memory database is a computing engine, and the memos never change a result.
A message DuckDB cannot read as a listen is found again with msgspec, which names the problem,
and raised as :class:`PoisonEvent`: the projection stops there instead of skipping it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

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
        self._entries: OrderedDict[str, CatalogueEntry] = OrderedDict()
        self._genre_sets: OrderedDict[str, GenreSet] = OrderedDict()

    def fold(self, w: CubeWrites) -> pa.Table | None:
        """The step's listens as facts (:data:`~projector.folds.cube_rows.LISTEN_COLUMNS` and the
        two keys), its catalogue entries, genre sets and users added to ``w``; None without listens."""
        if not w.listens:
            return None
        seqs, payloads = map(list, zip(*w.listens, strict=True))
        raw_listens = pa.table(  # noqa: F841  (read by the statement below)
            {
                "seq": pa.array(seqs, pa.int64()),
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
            # Python meets each distinct entry and genre set of the step once, not each listen: the
            # columns are the distinct values' columns taken by each listen's code.
            ckey_codes = _codes(facts["ckey"])
            gkey_codes = _codes(facts["gkey"])
            try:
                entries = self._entries_of(ckey_codes, facts["ckey"], payloads)
                genre_sets = self._genre_sets_of(gkey_codes, facts["gkey"], payloads)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:  # DuckDB read more leniently
                raise _poison(w.listens, None) from exc
        w.entries.update({e.key: e for e in entries})
        w.genre_sets.update({g.key: g for g in genre_sets})
        w.users.update(pc.unique(facts["user_name"]).to_pylist())
        track_ids, artist_ids, album_ids, credit_keys = zip(*[e.columns for e in entries], strict=True)
        ckeys, gkeys = ckey_codes.indices, gkey_codes.indices
        return pa.table(
            {
                "listen_id": facts["listen_id"],
                "user_name": facts["user_name"],
                "listened_at": facts["listened_at"],
                "track_id": pa.array(track_ids, pa.int64()).take(ckeys),
                "artist_id": pa.array(artist_ids, pa.int64()).take(ckeys),
                "album_id": pa.array(album_ids, pa.int64()).take(ckeys),
                "duration_secs": facts["duration_secs"],
                "stream_seq": facts["stream_seq"],
                CREDIT_KEY: pa.array(credit_keys, pa.int64()).take(ckeys),
                GENRE_KEY: pa.array([g.key for g in genre_sets], pa.int64()).take(gkeys),
            }
        )

    def _entries_of(
        self, codes: pa.DictionaryArray, ckeys: pa.ChunkedArray, payloads: list[bytes]
    ) -> list[CatalogueEntry]:
        """The entry of each distinct key of ``codes``, in the order of its dictionary."""

        def new(i: int) -> CatalogueEntry:
            ev = _SHARED.decode(payloads[i])
            return entry_of(ev.artists, ev.title, ev.album, ev.album_artist)

        return _resolve(self._entries, codes, ckeys, new)

    def _genre_sets_of(
        self, codes: pa.DictionaryArray, gkeys: pa.ChunkedArray, payloads: list[bytes]
    ) -> list[GenreSet]:
        """The genre set of each distinct key of ``codes`` (nulls, listens without genres, are no key)."""
        return _resolve(
            self._genre_sets, codes, gkeys, lambda i: genre_set(_SHARED.decode(payloads[i]).genres)
        )


def _codes(keys: pa.ChunkedArray) -> pa.DictionaryArray:
    """``keys`` as a dictionary array: each distinct key once, and each listen's index into them."""
    return cast(pa.DictionaryArray, pc.dictionary_encode(keys.combine_chunks()))


V = TypeVar("V")


def _resolve(
    memo: OrderedDict[str, V], codes: pa.DictionaryArray, column: pa.ChunkedArray, new: Callable[[int], V]
) -> list[V]:
    """The value of each distinct key of ``codes`` (the dictionary of ``column``), in its order.

    A key ``memo`` lacks gets ``new(i)``, ``i`` where it first occurs in ``column``, and is kept.
    ``memo`` keeps the :data:`MEMO_LIMIT` keys used last (the step's own always among them): with
    the catalogue's long tail, forgetting the least recently used instead of everything at once
    leaves the generated 10M stream 1.28M misses instead of 1.99M (counted over its tracks in
    batches of 20,000), and a miss costs about 20 µs (decoding and hashing its names)."""
    keys: list[str] = codes.dictionary.to_pylist()
    missing: list[int] = []
    for j, k in enumerate(keys):
        try:
            memo.move_to_end(k)
        except KeyError:
            missing.append(j)
    if missing:
        first: list[int] = pc.index_in(codes.dictionary, value_set=column).to_pylist()
        for j in missing:
            memo[keys[j]] = new(first[j])
        # The step's keys are the newest: only older ones go, and all of the step's stay.
        while len(memo) > max(MEMO_LIMIT, len(keys)):
            memo.popitem(last=False)
    return [memo[k] for k in keys]


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
