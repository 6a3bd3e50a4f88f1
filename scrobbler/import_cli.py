"""``scrobbler import listenbrainz|file`` and ``scrobbler export listenbrainz``: the jobs, run here.

The same job code as ``POST /api/v1/import/...`` runs in this process against the server's stream
and database (the embedded server's URL is found in the data dir), with a progress bar. The job's
state is in the stream as usual, so ``GET /api/v1/jobs/{id}`` shows it too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from scrobbler.settings import Settings

__all__ = ["export_group", "import_group", "run_cli_job"]


async def run_cli_job(
    settings: Settings,
    nats_url: str,
    kind: str,
    params: dict[str, Any],
    *,
    user: str | None = None,
    secrets: dict[str, str] | None = None,
    enrich: bool = True,
    on_progress: Callable[[Any], None] | None = None,
) -> Any:
    """Run one job to its end in this process; returns its context (status, progress, error)."""
    from ingest.directory import Directory
    from ingest.enrichment.enricher import Enricher
    from ingest.enrichment.musicbrainz import MusicBrainzClient
    from ingest.jobs.runner import JobRunner
    from ingest.jobs.service import remote_http
    from ingest.publish import Publisher
    from projector.db import create_engine
    from projector.migrate import migrate
    from scrobbler.secrets import secret_box
    from scrobbler.stream import StreamClient

    engine = create_engine(settings.db.dsn)
    stream = StreamClient(nats_url, settings.nats, name=f"scrobbler-{kind}")
    try:
        await migrate(engine)
        await stream.connect()
        publisher = Publisher(stream, settings.nats.subject_prefix, settings.nats.stream)
        directory = Directory(engine, box=secret_box(settings))
        async with remote_http() as http:
            enricher = None
            if enrich:
                mb = MusicBrainzClient(
                    settings.remote.musicbrainz_base_url, settings.remote.musicbrainz_user_agent, http
                )
                enricher = Enricher(mb, publisher)
                enricher.start()
            runner = JobRunner(
                settings=settings,
                publisher=publisher,
                directory=directory,
                engine=engine,
                http=http,
                enqueue_enrichment=enricher.enqueue if enricher else None,
                on_progress=on_progress,
            )
            if kind == "import-listenbrainz" and not params.get("local_user"):
                params["local_user"] = await directory.default_user()
            if kind == "import-file" and not params.get("local_user"):
                params["local_user"] = await directory.default_user()
            ctx = await runner.start(kind, user or params.get("local_user"), params, secrets)
            ctx = await runner.wait(ctx.job_id)
            if enricher is not None:
                await enricher.drained()
                await enricher.close()
            return ctx
    finally:
        await stream.close()
        await engine.dispose()


def _run(kind: str, params: dict[str, Any], *, secrets: dict[str, str] | None, enrich: bool) -> None:
    from scrobbler.cli_env import command_settings as _settings
    from scrobbler.cli_env import command_stream as _nats

    settings = _settings()
    columns = [
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
    ]
    with _nats(settings) as url, Progress(*columns) as bar:
        task = bar.add_task(kind, total=None, stats="")

        def show(ctx: Any) -> None:
            p = ctx.progress
            stats = (
                f"pages {p.pages}  seen {p.seen}  new {p.new}  dup {p.duplicates}  errors {p.errors}"
                f"  skipped {p.skipped}  submitted {p.submitted}  {p.listens_per_s:.0f}/s"
            )
            bar.update(task, stats=stats, completed=p.seen)

        ctx = asyncio.run(
            run_cli_job(settings, url, kind, params, secrets=secrets, enrich=enrich, on_progress=show)
        )
    p = ctx.progress
    for bad in p.bad_rows:
        click.echo(f"  line {bad['line']}: {bad['reason']}", err=True)
    if p.skipped_reasons:
        for reason, n in p.skipped_reasons.items():
            click.echo(f"  skipped {n}: {reason}")
    if ctx.status != "done":
        raise click.ClickException(f"job {ctx.job_id} {ctx.status}: {ctx.error}")
    click.echo(f"job {ctx.job_id} done: {p.new} new, {p.duplicates} duplicates, {p.errors} errors")


@click.group("import")
def import_group() -> None:
    """Import listening history (ListenBrainz account, or a file)."""


@import_group.command("listenbrainz")
@click.option(
    "--user", "lb_user", default=None, help="ListenBrainz user (default: config listenbrainz_user)."
)
@click.option("--page-size", default=1000, show_default=True, type=click.IntRange(1, 1000))
@click.option("--token", default=None, help="ListenBrainz token (default: config listenbrainz_token).")
@click.option(
    "--as", "local_user", default=None, help="Our user the listens belong to (default: default_user)."
)
@click.option("--no-enrich", is_flag=True, help="Do not look up missing genres in MusicBrainz.")
def import_listenbrainz(
    lb_user: str | None, page_size: int, token: str | None, local_user: str | None, no_enrich: bool
) -> None:
    """Import a ListenBrainz user's whole history (idempotent: re-running adds only what is new)."""
    if lb_user is None:
        lb_user = _config_value("listenbrainz_user")
        if not lb_user:
            raise click.UsageError("--user is needed: config listenbrainz_user is not set")
    params = {"lb_user": lb_user, "page_size": page_size, "local_user": local_user}
    _run(
        "import-listenbrainz",
        params,
        secrets={"listenbrainz_token": token} if token else None,
        enrich=not no_enrich,
    )


@import_group.command("file")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format", "fmt", type=click.Choice(["listenbrainz", "lastfm", "spotify", "maloja"]), default=None
)
@click.option(
    "--as", "local_user", default=None, help="Our user the listens belong to (default: default_user)."
)
@click.option("--no-enrich", is_flag=True, help="Do not look up missing genres in MusicBrainz.")
def import_file(path: Path, fmt: str | None, local_user: str | None, no_enrich: bool) -> None:
    """Import a ListenBrainz export, Last.fm CSV, Spotify streaming history or Maloja export."""
    from ingest.importers.formats import UnknownFormat, detect_format

    if fmt is None:
        try:
            with path.open("rb") as fp:
                fmt = detect_format(fp, path.name)
        except UnknownFormat as exc:
            raise click.UsageError(f"{path}: {exc}; pass --format") from exc
    params = {
        "path": str(path.resolve()),
        "format": fmt,
        "local_user": local_user,
        "bytes": path.stat().st_size,
    }
    _run("import-file", params, secrets=None, enrich=not no_enrich)


@click.group("export")
def export_group() -> None:
    """Send listens elsewhere."""


@export_group.command("listenbrainz")
@click.option("--listen-type", type=click.Choice(["import", "single"]), default="import", show_default=True)
@click.option("--batch-size", default=100, show_default=True, type=click.IntRange(1, 100))
@click.option("--user", "lb_user", default=None, help="ListenBrainz user (default: the token's owner).")
@click.option("--token", default=None, help="ListenBrainz token (default: config listenbrainz_token).")
@click.option("--only", "local_user", default=None, help="Export only this user's listens.")
def export_listenbrainz(
    listen_type: str, batch_size: int, lb_user: str | None, token: str | None, local_user: str | None
) -> None:
    """Export stored listens to ListenBrainz, oldest first, skipping what it already has."""
    params = {"lb_user": lb_user, "listen_type": listen_type, "batch_size": batch_size, "user": local_user}
    _run(
        "export-listenbrainz", params, secrets={"listenbrainz_token": token} if token else None, enrich=False
    )


def _config_value(key: str) -> str:
    from ingest.directory import Directory
    from projector.db import create_engine
    from scrobbler.cli_env import command_settings as _settings
    from scrobbler.secrets import secret_box

    settings = _settings()

    async def read() -> str:
        engine = create_engine(settings.db.dsn)
        try:
            return await Directory(engine, box=secret_box(settings)).config_value(key)
        finally:
            await engine.dispose()

    return asyncio.run(read())
