"""Where optional features plug into the processes: query-API extensions and CLI commands.

Each feature module exposes a factory; this file is the one list of them, so adding a feature
is one line here, not an edit of the app or the CLI.
"""

from __future__ import annotations

from typing import Any

import click

from scrobbler.settings import Settings

__all__ = ["cli_commands", "ingest_extensions", "query_extensions", "query_extra_routes"]


def ingest_extensions(settings: Settings) -> list[Any]:
    """Resources the ingest service opens beside its own (each an async context manager factory)."""
    from ingest.jobs.service import job_service

    return [job_service]


def query_extensions(settings: Settings) -> list[Any]:
    """Resources the query API opens beside its own (each an async context manager factory)."""
    from query_api.cube import cube_extension
    from query_api.cube.readiness import cube_readiness

    return [cube_extension(settings), cube_readiness(settings)]


def query_extra_routes() -> list[Any]:
    """Route handlers served beside the query API's core routes."""
    from query_api.routes.admin import admin_status
    from query_api.routes.stats_all import cube_routes

    return [*cube_routes(), admin_status]


def cli_commands() -> list[click.Command]:
    """Operator commands added to ``scrobbler``."""
    from bench.cli import generate_command
    from scrobbler.backup import backup_command, restore_command
    from scrobbler.import_cli import export_group, import_group
    from scrobbler.replay import replay_command
    from scrobbler.status import status_command
    from scrobbler.users_cli import user_group

    return [
        replay_command,
        status_command,
        backup_command,
        restore_command,
        user_group,
        import_group,
        export_group,
        generate_command,
    ]
