"""Listens name a shared artist credit and genre set instead of repeating their rows

``listen_artists`` and ``listen_genres`` held 2.8 rows for every listen (a third of a SQLite
database), although a catalogue has few distinct credits and genre sets. Each set is now stored
once (``credit_sets``, ``genre_sets``, keyed by a hash of its members:
:func:`schemas.identity.credit_set_id`, :func:`~schemas.identity.genre_set_id`) and a listen
names its two sets. The ids are hashes computed in Python, so the upgrade reads the old rows a
few thousand listens at a time (a few minutes for ten million listens); the downgrade is SQL.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from alembic import op

from schemas.identity import credit_set_id, genre_set_id

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_CHUNK = 5000
_POINTERS = "migration_0005_pointers"
"""Each listen's two set ids for a chunk, joined into ``listens`` by one statement."""
_MYSQL: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _insert_ignore(table: str) -> str:
    return f"INSERT {'OR IGNORE' if _sqlite() else 'IGNORE'} INTO {table}"


def _create_pair(credits: str, genres: str, key: str, key_type: sa.types.TypeEngine[Any]) -> None:
    """A credits table and a genres table keyed by column ``key`` (a set's id, or a listen's id)."""
    op.create_table(
        credits,
        sa.Column(key, key_type, autoincrement=False, nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("artist_id", sa.BigInteger(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint(key, "position"),
        sqlite_with_rowid=False,
        **_MYSQL,
    )
    op.create_table(
        genres,
        sa.Column(key, key_type, autoincrement=False, nullable=False),
        sa.Column("genre_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint(key, "genre_id"),
        sqlite_with_rowid=False,
        **_MYSQL,
    )


def _create_sets() -> None:
    _create_pair("credit_sets", "genre_sets", "set_id", sa.BigInteger())


def _create_per_listen() -> None:
    _create_pair("listen_artists", "listen_genres", "listen_id", sa.String(length=36))


def _move_chunk(conn: sa.Connection, ids: list[str]) -> None:
    """Give the listens ``ids`` their sets, made from their rows in the old tables."""
    credits: dict[str, list[tuple[int, str]]] = defaultdict(list)
    genres: dict[str, list[int]] = defaultdict(list)
    params = {"ids": ids}
    expanding: sa.BindParameter[list[str]] = sa.bindparam("ids", expanding=True)
    for lid, artist_id, role in conn.execute(
        sa.text(
            "SELECT listen_id, artist_id, role FROM listen_artists WHERE listen_id IN :ids"
            " ORDER BY listen_id, position"
        ).bindparams(expanding),
        params,
    ):
        credits[lid].append((int(artist_id), str(role)))
    for lid, genre_id in conn.execute(
        sa.text("SELECT listen_id, genre_id FROM listen_genres WHERE listen_id IN :ids").bindparams(
            expanding
        ),
        params,
    ):
        genres[lid].append(int(genre_id))
    credit_rows: dict[int, list[dict[str, object]]] = {}
    genre_rows: dict[int, list[dict[str, object]]] = {}
    pointers: list[dict[str, object]] = []
    for lid in ids:
        credit = tuple(credits.get(lid, ()))
        cset = credit_set_id(credit) if credit else None
        if cset is not None and cset not in credit_rows:
            credit_rows[cset] = [{"s": cset, "p": p, "a": a, "r": r} for p, (a, r) in enumerate(credit)]
        gset = genre_set_id(tuple(genres.get(lid, ())))
        if gset is not None and gset not in genre_rows:
            genre_rows[gset] = [{"s": gset, "g": g} for g in sorted(set(genres[lid]))]
        pointers.append({"lid": lid, "c": cset, "g": gset})
    if credit_rows:
        conn.execute(
            sa.text(
                f"{_insert_ignore('credit_sets')} (set_id, position, artist_id, role) VALUES (:s, :p, :a, :r)"
            ),
            [r for rows in credit_rows.values() for r in rows],
        )
    if genre_rows:
        conn.execute(
            sa.text(f"{_insert_ignore('genre_sets')} (set_id, genre_id) VALUES (:s, :g)"),
            [r for rows in genre_rows.values() for r in rows],
        )
    conn.execute(sa.text(f"DELETE FROM {_POINTERS}"))
    conn.execute(sa.text(f"INSERT INTO {_POINTERS} (listen_id, c, g) VALUES (:lid, :c, :g)"), pointers)
    conn.execute(
        sa.text(
            f"UPDATE listens SET"
            f" credit_set_id = (SELECT c FROM {_POINTERS} p WHERE p.listen_id = listens.listen_id),"
            f" genre_set_id = (SELECT g FROM {_POINTERS} p WHERE p.listen_id = listens.listen_id)"
            f" WHERE listen_id IN (SELECT listen_id FROM {_POINTERS})"
        )
    )


def upgrade() -> None:
    _create_sets()
    op.add_column("listens", sa.Column("credit_set_id", sa.BigInteger(), nullable=True))
    op.add_column("listens", sa.Column("genre_set_id", sa.BigInteger(), nullable=True))
    op.create_table(
        _POINTERS,
        sa.Column("listen_id", sa.String(length=36), primary_key=True),
        sa.Column("c", sa.BigInteger(), nullable=True),
        sa.Column("g", sa.BigInteger(), nullable=True),
        **_MYSQL,
    )
    conn = op.get_bind()
    last = ""
    while True:
        ids = [
            str(r[0])
            for r in conn.execute(
                sa.text("SELECT listen_id FROM listens WHERE listen_id > :last ORDER BY listen_id LIMIT :n"),
                {"last": last, "n": _CHUNK},
            )
        ]
        if not ids:
            break
        _move_chunk(conn, ids)
        last = ids[-1]
    op.drop_table(_POINTERS)
    op.drop_table("listen_artists")
    op.drop_table("listen_genres")


def downgrade() -> None:
    _create_per_listen()
    op.execute(
        "INSERT INTO listen_artists (listen_id, position, artist_id, role)"
        " SELECT l.listen_id, c.position, c.artist_id, c.role FROM listens l"
        " JOIN credit_sets c ON c.set_id = l.credit_set_id"
    )
    op.execute(
        "INSERT INTO listen_genres (listen_id, genre_id)"
        " SELECT l.listen_id, g.genre_id FROM listens l JOIN genre_sets g ON g.set_id = l.genre_set_id"
    )
    with op.batch_alter_table("listens") as batch:
        batch.drop_column("genre_set_id")
        batch.drop_column("credit_set_id")
    op.drop_table("credit_sets")
    op.drop_table("genre_sets")
