"""The ``scrobbler`` command: serve the processes and operate the stream."""

from __future__ import annotations

import sys
import threading
from typing import Any

import click
import structlog

from scrobbler.cli_env import command_settings as _settings
from scrobbler.cli_env import command_stream as _nats

log = structlog.get_logger("scrobbler")


def _partition(raw: str) -> tuple[int, int]:
    try:
        index_s, count_s = raw.split("/")
        index, count = int(index_s), int(count_s)
    except ValueError as exc:
        raise click.BadParameter(f"{raw!r}: expected i/N, e.g. 0/3") from exc
    if not 0 <= index < count <= 64:
        raise click.BadParameter(f"{raw!r}: need 0 <= i < N <= 64")
    return index, count


@click.group()
def main() -> None:
    """Self-hosted scrobble server (see README.md)."""


@main.command()
def run() -> None:
    """Everything in one: embedded NATS (unless SCROBBLER_NATS_URL), projector, ingest + query on one port."""
    from scrobbler.app import create_app
    from scrobbler.features import query_extensions, query_extra_routes
    from scrobbler.gc_tuning import FOLD
    from scrobbler.serve import migrate_now, serve_http, spawn_projector

    settings = _settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with _nats(settings) as url:
        migrate_now(settings)
        stopping = threading.Event()

        def supervise() -> None:
            while not stopping.is_set():
                with spawn_projector(url) as proc:
                    while proc.poll() is None and not stopping.is_set():
                        stopping.wait(0.5)
                if not stopping.is_set():
                    log.error("projector exited, restarting", returncode=proc.returncode)
                    stopping.wait(1.0)

        supervisor = threading.Thread(target=supervise, name="projector-supervisor", daemon=True)
        supervisor.start()
        log.info("serving", url=f"http://localhost:{settings.http.port}", nats=url, db=settings.db.dsn)
        try:
            app = create_app(
                settings, url, extensions=query_extensions(settings), extra_routes=query_extra_routes()
            )
            serve_http(app, settings, tuning=FOLD)
        finally:
            stopping.set()
            supervisor.join(20)


@main.command()
def ingest() -> None:
    """The ingest service alone (writes)."""
    from scrobbler.app import create_app
    from scrobbler.serve import serve_http

    settings = _settings()
    with _nats(settings) as url:
        serve_http(create_app(settings, url, ingest=True, query=False), settings)


@main.command("query-api")
def query_api() -> None:
    """The query API alone (reads, statistics, the web UI)."""
    from scrobbler.app import create_app
    from scrobbler.features import query_extensions, query_extra_routes
    from scrobbler.gc_tuning import FOLD
    from scrobbler.serve import serve_http

    settings = _settings()
    with _nats(settings) as url:
        app = create_app(
            settings,
            url,
            ingest=False,
            query=True,
            extensions=query_extensions(settings),
            extra_routes=query_extra_routes(),
        )
        serve_http(app, settings, tuning=FOLD)


@main.command()
@click.option("--partition", default="0/1", show_default=True, help="Take partition i of N of the users.")
@click.option(
    "--http/--no-http",
    default=True,
    show_default=True,
    help="Serve /healthz, /readyz and /metrics on SCROBBLER_HOST:SCROBBLER_PORT.",
)
def projector(partition: str, http: bool) -> None:
    """The SQL projector (migrates the schema first)."""
    from scrobbler.serve import serve_projector

    settings = _settings()
    with _nats(settings) as url:
        serve_projector(settings, url, _partition(partition), http=http)


@main.command()
def migrate() -> None:
    """Bring the SQL schema to the newest revision."""
    from scrobbler.serve import migrate_now

    migrate_now(_settings())
    click.echo("schema up to date")


def _register_extra_commands(group: click.Group) -> None:
    """Operator commands live in their own modules; each registers itself here."""
    from scrobbler.features import cli_commands

    for command in cli_commands():
        group.add_command(command)


_register_extra_commands(main)


def entry(*args: Any) -> None:  # pragma: no cover - console script shim
    main(*args)


if __name__ == "__main__":
    sys.exit(main())
