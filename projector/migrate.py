"""Bring the SQL schema to the newest Alembic revision (run at projector start-up)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["alembic_config", "migrate"]

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


async def migrate(engine: AsyncEngine) -> None:
    """Upgrade to head; on MariaDB under a named lock so concurrent starters take turns."""
    async with engine.connect() as conn:
        mysql = conn.dialect.name == "mysql"
        if mysql:
            await conn.execute(text("SELECT GET_LOCK('scrobbler_migrate', 120)"))
        try:
            await conn.run_sync(_upgrade)
            await conn.commit()
        finally:
            if mysql:
                await conn.execute(text("SELECT RELEASE_LOCK('scrobbler_migrate')"))
