"""``scrobbler replay``: rebuild read models from the stream, with a progress bar."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from projector.replay import ProgressFn, ReplayProgress, ReplayResult, replay_sql
from scrobbler.settings import Settings
from scrobbler.stream import StreamClient

__all__ = ["progress_bar", "replay_command"]


class RateColumn(ProgressColumn):
    """Events per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} ev/s" if speed else "- ev/s", style="progress.data.speed")


@contextmanager
def progress_bar(label: str, console: Console) -> Iterator[ProgressFn]:
    """A rich progress bar (events, events/s, ETA, stream sequence); yields the replay's callback."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("seq {task.fields[position]}"),
        console=console,
    ) as progress:
        task = progress.add_task(label, total=None, position=0)

        def report(p: ReplayProgress) -> None:
            progress.update(
                task, completed=p.done, total=p.total, position=p.position, description=f"{label} {p.phase}"
            )

        yield report


async def _run_sql(
    settings: Settings, nats_url: str, from_seq: int, restart: bool, console: Console
) -> ReplayResult:
    client = StreamClient(nats_url, settings.nats, name="scrobbler-replay")
    await client.connect()
    assert client.js is not None
    try:
        with progress_bar("sql", console) as report:
            return await replay_sql(client.js, settings, from_seq=from_seq, restart=restart, progress=report)
    finally:
        await client.close()


def _cube_available() -> bool:
    try:
        import scrobbler.cube_replay  # noqa: F401
    except ImportError:
        return False
    return True


@click.command("replay")
@click.option("--sql", "sql", is_flag=True, help="Rebuild the SQL read model.")
@click.option("--cube", "cube", is_flag=True, help="Rebuild the DuckDB stats cube.")
@click.option(
    "--from-seq",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Start a fresh rebuild at this stream sequence instead of the first event.",
)
@click.option("--restart", is_flag=True, help="Discard an interrupted replay instead of resuming it.")
def replay_command(sql: bool, cube: bool, from_seq: int, restart: bool) -> None:
    """Rebuild read models from the stream into fresh tables/files, then switch over atomically.

    Without --sql or --cube, both. Safe while ingest and projectors run; resumable after a crash
    (run it again). See docs/operating.md.
    """
    from scrobbler.cli_env import command_settings as _settings
    from scrobbler.cli_env import command_stream as _nats

    settings = _settings()
    console = Console(stderr=True)
    if not sql and not cube:
        sql = cube = True
    with _nats(settings) as url:
        if sql:
            result = asyncio.run(_run_sql(settings, url, from_seq, restart, console))
            click.echo(
                f"sql: rebuilt {result.events:,} events in {result.seconds:.1f}s "
                f"({result.rate:,.0f} events/s), live at stream sequence {result.position}"
            )
        if cube:
            if not _cube_available():
                raise click.ClickException(
                    "cube replay is not available in this build (no cube replay module); the query API "
                    "rebuilds its cube from the stream when the cube file is deleted and it restarts"
                )
            from scrobbler.cube_replay import run_cube_replay

            click.echo(run_cube_replay(settings, url, from_seq, restart, console))
