"""SQLite keeps a listen's credits and genres in their key's B-tree (WITHOUT ROWID)

Both tables are only ever read by listen id. As rowid tables, SQLite stored each row twice: in
the table and in the index of its primary key. Rebuilt once, in key order (a minute or so for
ten million listens); MariaDB's InnoDB already clusters every table by its key, so nothing
changes there.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _columns(table: str) -> list[sa.schema.SchemaItem]:
    if table == "listen_artists":
        return [
            sa.Column("listen_id", sa.String(length=36), nullable=False),
            sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("artist_id", sa.BigInteger(), nullable=False),
            sa.Column("role", sa.String(length=16), nullable=False),
            sa.PrimaryKeyConstraint("listen_id", "position"),
        ]
    return [
        sa.Column("listen_id", sa.String(length=36), nullable=False),
        sa.Column("genre_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("listen_id", "genre_id"),
    ]


_KEYS = {"listen_artists": "listen_id, position", "listen_genres": "listen_id, genre_id"}


def _rebuild(*, with_rowid: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, key in _KEYS.items():
        op.create_table(f"{table}__new", *_columns(table), sqlite_with_rowid=with_rowid)
        cols = ", ".join(f'"{c.name}"' for c in _columns(table) if isinstance(c, sa.Column))
        op.execute(f'INSERT INTO "{table}__new" ({cols}) SELECT {cols} FROM "{table}" ORDER BY {key}')
        op.drop_table(table)
        op.rename_table(f"{table}__new", table)


def upgrade() -> None:
    _rebuild(with_rowid=False)


def downgrade() -> None:
    _rebuild(with_rowid=True)
