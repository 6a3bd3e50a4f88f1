"""Genres an enrichment adds to a listen already stored: the listen moves to a larger genre set.

A listen names its genre set (``listens.genre_set_id``); a set is shared by every listen with the
same genres, so an enrichment cannot add rows for one listen. It reads the listen's set, makes the
union with the genres it learned, stores that set's rows (ignored if another listen has it already)
and points the listen at it. As for recording MBIDs, only a listen that came before the enrichment
takes it, whatever the batch boundaries.

This is the only place the SQL fold reads before it writes; enrichments are few next to listens
and come in batches, so it costs three statements and one update per resulting set for a batch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import Connection, select, update

from projector.db import execute_all, render_insert_ignoring_duplicates
from projector.folds.sql_rows import COLUMNS, GenreAddition
from projector.tables import genre_sets, listens
from schemas.identity import genre_set_id

__all__ = ["add_genres"]


def add_genres(conn: Connection, additions: Iterable[GenreAddition]) -> int:
    """Apply ``additions`` (in stream order) to the listens of ``conn``'s database; how many
    listens changed set."""
    pending = list(additions)
    if not pending:
        return 0
    ids = sorted({a.listen_id for a in pending})
    stored = {
        lid: (seq, set_id)
        for lid, seq, set_id in conn.execute(
            select(listens.c.listen_id, listens.c.stream_seq, listens.c.genre_set_id).where(
                listens.c.listen_id.in_(ids)
            )
        )
    }
    members: dict[int, set[int]] = defaultdict(set)
    sets = sorted({set_id for _, set_id in stored.values() if set_id is not None})
    if sets:
        for set_id, genre_id in conn.execute(
            select(genre_sets.c.set_id, genre_sets.c.genre_id).where(genre_sets.c.set_id.in_(sets))
        ):
            members[set_id].add(genre_id)
    current = {lid: frozenset(members.get(set_id, ())) for lid, (_, set_id) in stored.items() if set_id}
    changed: dict[str, frozenset[int]] = {}
    for seq, lid, genre_ids in pending:
        if lid not in stored or stored[lid][0] >= seq:
            continue  # gone, never stored, or recorded after the enrichment
        before = current.get(lid, frozenset())
        after = before | frozenset(genre_ids)
        if after != before:
            current[lid] = changed[lid] = after
    if not changed:
        return 0
    by_set: dict[int, list[str]] = defaultdict(list)
    rows: dict[int, list[tuple[int, int]]] = {}
    for lid, genres in changed.items():
        set_id = genre_set_id(tuple(genres))
        assert set_id is not None
        by_set[set_id].append(lid)
        rows.setdefault(set_id, [(set_id, g) for g in sorted(genres)])
    execute_all(
        conn,
        render_insert_ignoring_duplicates(
            conn.dialect, genre_sets, COLUMNS["genre_sets"], [r for s in sorted(rows) for r in rows[s]]
        ),
    )
    for set_id, lids in by_set.items():
        conn.execute(update(listens).where(listens.c.listen_id.in_(lids)).values(genre_set_id=set_id))
    return len(changed)
