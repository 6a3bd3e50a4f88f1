"""Drop the three secondary indexes no read path uses

No query of the read model looks listens up by stream sequence, nor credits by artist, nor
genres by genre (the statistics come from the cube): these indexes only cost every insert, a
replay's switch (each is rebuilt by a sort of every row) and about a sixth of a SQLite file.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_DROPPED = (
    ("listens", "ix_listens_seq", ["stream_seq"]),
    ("listen_artists", "ix_listen_artists_artist_id", ["artist_id"]),
    ("listen_genres", "ix_listen_genres_genre", ["genre_id"]),
)


def upgrade() -> None:
    # Plain DROP INDEX on both databases (no batch mode: SQLite would not copy the tables).
    for table, name, _ in _DROPPED:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    for table, name, columns in _DROPPED:
        op.create_index(name, table, columns, unique=False)
