"""The SQL read model's tables (SQLAlchemy Core). Alembic migrations create them; keep both in step."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = [
    "albums",
    "artists",
    "config",
    "credit_sets",
    "genre_sets",
    "genres",
    "jobs",
    "listens",
    "metadata",
    "projection_checkpoint",
    "tokens",
    "tracks",
    "users",
]

metadata = MetaData()

_MYSQL: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}
"""Case- and accent-sensitive like SQLite, and every character (emoji too) storable."""

users = Table(
    "users",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("created_at", DateTime, nullable=False),
    Column("password_enc", Text, nullable=True),
    **_MYSQL,
)

tokens = Table(
    "tokens",
    metadata,
    Column("token_sha256", String(64), primary_key=True),
    Column("user_name", String(64), nullable=False, index=True),
    Column("prefix", String(16), nullable=False),
    Column("label", String(128), nullable=False, default=""),
    Column("created_at", DateTime, nullable=False),
    Column("revoked_at", DateTime, nullable=True),
    **_MYSQL,
)

artists = Table(
    "artists",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("name", String(512), nullable=False),
    Column("mbid", String(36), nullable=True),
    **_MYSQL,
)

albums = Table(
    "albums",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("title", String(512), nullable=False),
    Column("artist_name", String(512), nullable=True),
    Column("year", Integer, nullable=True),
    Column("mbid", String(36), nullable=True),
    **_MYSQL,
)

tracks = Table(
    "tracks",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("title", String(512), nullable=False),
    Column("artist_name", String(512), nullable=False),
    Column("duration_secs", Integer, nullable=True),
    Column("mbid", String(36), nullable=True),
    Column("isrc", String(16), nullable=True),
    **_MYSQL,
)

genres = Table(
    "genres",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("name", String(64), nullable=False),
    **_MYSQL,
)

listens = Table(
    "listens",
    metadata,
    Column("listen_id", String(36), primary_key=True),
    Column("user_name", String(64), nullable=False),
    Column("listened_at", DateTime, nullable=False),
    Column("track_id", BigInteger, nullable=False),
    Column("artist_id", BigInteger, nullable=False),
    Column("album_id", BigInteger, nullable=True),
    Column("track_no", Integer, nullable=True),
    Column("disc_no", Integer, nullable=True),
    Column("duration_secs", Integer, nullable=True),
    Column("position_secs", Integer, nullable=True),
    Column("source", String(64), nullable=False),
    Column("source_track_id", String(256), nullable=True),
    Column("client", String(128), nullable=True),
    Column("recording_mbid", String(36), nullable=True),
    Column("release_mbid", String(36), nullable=True),
    Column("unresolved", Boolean, nullable=False, default=False),
    Column("extra", Text, nullable=True),
    Column("received_at", DateTime, nullable=False),
    Column("stream_seq", BigInteger, nullable=False),
    # Always set by the projector; nullable only because migration 0005 added it to existing rows.
    Column("credit_set_id", BigInteger, nullable=True),
    Column("genre_set_id", BigInteger, nullable=True),
    Index("ix_listens_user_time", "user_name", "listened_at"),
    Index("ix_listens_time", "listened_at"),
    **_MYSQL,
)

# A listen's artist credit and genres are sets that many listens share (as MusicBrainz keeps one
# artist credit for every recording credited alike): a listen names its sets (``credit_set_id``,
# ``genre_set_id``) instead of repeating their rows, which were 2.8 rows for every listen and a
# third of the database. A set's rows are only ever found by its id, so on SQLite they are kept
# in their key's own B-tree (WITHOUT ROWID), as InnoDB keeps every table.
credit_sets = Table(
    "credit_sets",
    metadata,
    Column("set_id", BigInteger, primary_key=True, autoincrement=False),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("artist_id", BigInteger, nullable=False),
    Column("role", String(16), nullable=False),
    sqlite_with_rowid=False,
    **_MYSQL,
)

genre_sets = Table(
    "genre_sets",
    metadata,
    Column("set_id", BigInteger, primary_key=True, autoincrement=False),
    Column("genre_id", BigInteger, primary_key=True, autoincrement=False),
    sqlite_with_rowid=False,
    **_MYSQL,
)

config = Table(
    "config",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("secret", Boolean, nullable=False, default=False),
    Column("updated_at", DateTime, nullable=False),
    **_MYSQL,
)

jobs = Table(
    "jobs",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("user_name", String(64), nullable=True),
    Column("progress", Text, nullable=False),
    Column("error", Text, nullable=True),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    **_MYSQL,
)

projection_checkpoint = Table(
    "projection_checkpoint",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("stream_seq", BigInteger, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    **_MYSQL,
)
