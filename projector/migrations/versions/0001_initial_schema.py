"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-24 12:12:33.563614
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('albums',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('title', sa.String(length=512), nullable=False),
    sa.Column('artist_name', sa.String(length=512), nullable=True),
    sa.Column('year', sa.Integer(), nullable=True),
    sa.Column('mbid', sa.String(length=36), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    mysql_engine='InnoDB',
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    )
    op.create_table('artists',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('name', sa.String(length=512), nullable=False),
    sa.Column('mbid', sa.String(length=36), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    mysql_engine='InnoDB',
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    )
    op.create_table('config',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('secret', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key'),
    mysql_engine='InnoDB',
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    )
    op.create_table('genres',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    mysql_engine='InnoDB',
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    )
    op.create_table('jobs',
    sa.Column('job_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('user_name', sa.String(length=64), nullable=True),
    sa.Column('progress', sa.Text(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('job_id'),
    mysql_engine='InnoDB',
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    )
    op.create_table('listen_artists',
    sa.Column('listen_id', sa.String(length=36), nullable=False),
    sa.Column('position', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('artist_id', sa.BigInteger(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint('listen_id', 'position'),
    mysql_engine='InnoDB',
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    )
    with op.batch_alter_table('listen_artists', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_listen_artists_artist_id'), ['artist_id'], unique=False)

    op.create_table('listen_genres',
    sa.Column('listen_id', sa.String(length=36), nullable=False),
    sa.Column('genre_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.PrimaryKeyConstraint('listen_id', 'genre_id'),
    mysql_engine='InnoDB',
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    )
    with op.batch_alter_table('listen_genres', schema=None) as batch_op:
        batch_op.create_index('ix_listen_genres_genre', ['genre_id'], unique=False)

    op.create_table('listens',
    sa.Column('listen_id', sa.String(length=36), nullable=False),
    sa.Column('user_name', sa.String(length=64), nullable=False),
    sa.Column('listened_at', sa.DateTime(), nullable=False),
    sa.Column('track_id', sa.BigInteger(), nullable=False),
    sa.Column('artist_id', sa.BigInteger(), nullable=False),
    sa.Column('album_id', sa.BigInteger(), nullable=True),
    sa.Column('track_no', sa.Integer(), nullable=True),
    sa.Column('disc_no', sa.Integer(), nullable=True),
    sa.Column('duration_secs', sa.Integer(), nullable=True),
    sa.Column('position_secs', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('source_track_id', sa.String(length=256), nullable=True),
    sa.Column('client', sa.String(length=128), nullable=True),
    sa.Column('recording_mbid', sa.String(length=36), nullable=True),
    sa.Column('release_mbid', sa.String(length=36), nullable=True),
    sa.Column('unresolved', sa.Boolean(), nullable=False),
    sa.Column('extra', sa.Text(), nullable=True),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('stream_seq', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('listen_id'),
    mysql_engine='InnoDB',
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    )
    with op.batch_alter_table('listens', schema=None) as batch_op:
        batch_op.create_index('ix_listens_seq', ['stream_seq'], unique=False)
        batch_op.create_index('ix_listens_time', ['listened_at'], unique=False)
        batch_op.create_index('ix_listens_user_time', ['user_name', 'listened_at'], unique=False)

    op.create_table('projection_checkpoint',
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('stream_seq', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name'),
    mysql_engine='InnoDB',
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    )
    op.create_table('tokens',
    sa.Column('token_sha256', sa.String(length=64), nullable=False),
    sa.Column('user_name', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('label', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('token_sha256'),
    mysql_engine='InnoDB',
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    )
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tokens_user_name'), ['user_name'], unique=False)

    op.create_table('tracks',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('title', sa.String(length=512), nullable=False),
    sa.Column('artist_name', sa.String(length=512), nullable=False),
    sa.Column('duration_secs', sa.Integer(), nullable=True),
    sa.Column('mbid', sa.String(length=36), nullable=True),
    sa.Column('isrc', sa.String(length=16), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    mysql_engine='InnoDB',
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    )
    op.create_table('users',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('password_enc', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('name'),
    mysql_engine='InnoDB',
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    )


def downgrade() -> None:
    op.drop_table('users')
    op.drop_table('tracks')
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tokens_user_name'))

    op.drop_table('tokens')
    op.drop_table('projection_checkpoint')
    with op.batch_alter_table('listens', schema=None) as batch_op:
        batch_op.drop_index('ix_listens_user_time')
        batch_op.drop_index('ix_listens_time')
        batch_op.drop_index('ix_listens_seq')

    op.drop_table('listens')
    with op.batch_alter_table('listen_genres', schema=None) as batch_op:
        batch_op.drop_index('ix_listen_genres_genre')

    op.drop_table('listen_genres')
    with op.batch_alter_table('listen_artists', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_listen_artists_artist_id'))

    op.drop_table('listen_artists')
    op.drop_table('jobs')
    op.drop_table('genres')
    op.drop_table('config')
    op.drop_table('artists')
    op.drop_table('albums')
