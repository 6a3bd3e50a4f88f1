"""Alembic environment: run with a connection handed over by :mod:`projector.migrate`."""

from __future__ import annotations

from alembic import context

from projector.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `scrobbler migrate` (projector.migrate.migrate)")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
