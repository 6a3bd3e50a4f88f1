"""``scrobbler replay``: rebuild read models from the stream, with a progress bar."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from queue import Empty

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
from projector.stream_tee import TeeReceiver, TeeSender
from scrobbler.gc_tuning import FOLD, tune
from scrobbler.settings import Settings
from scrobbler.stream import StreamClient

__all__ = ["progress_bar", "replay_command"]


class RateColumn(ProgressColumn):
    """Events per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} ev/s" if speed else "- ev/s", style="progress.data.speed")


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("seq {task.fields[position]}"),
        console=console,
    )


def _reporter(progress: Progress, label: str) -> ProgressFn:
    task = progress.add_task(label, total=None, position=0)

    def report(p: ReplayProgress) -> None:
        progress.update(
            task, completed=p.done, total=p.total, position=p.position, description=f"{label} {p.phase}"
        )

    return report


@contextmanager
def progress_bar(label: str, console: Console) -> Iterator[ProgressFn]:
    """A rich progress bar (events, events/s, ETA, stream sequence); yields the replay's callback."""
    with _progress(console) as progress:
        yield _reporter(progress, label)


async def _run_sql(
    settings: Settings,
    nats_url: str,
    from_seq: int,
    restart: bool,
    report: ProgressFn,
    tee: Connection | None = None,
) -> ReplayResult:
    client = StreamClient(nats_url, settings.nats, name="scrobbler-replay")
    await client.connect()
    assert client.js is not None
    try:
        return await replay_sql(
            client.js,
            settings,
            from_seq=from_seq,
            restart=restart,
            progress=report,
            tee=TeeSender(tee) if tee is not None else None,
        )
    finally:
        await client.close()


def _sql_line(result: ReplayResult) -> str:
    return (
        f"sql: rebuilt {result.events:,} events in {result.seconds:.1f}s "
        f"({result.rate:,.0f} events/s), live at stream sequence {result.position}"
    )


def _cube_child(
    settings: Settings,
    nats_url: str,
    from_seq: int,
    restart: bool,
    queue: multiprocessing.Queue[object],
    tee: Connection,
) -> None:
    """The cube rebuild in its own process: progress and the final line go back through ``queue``;
    it folds what the SQL replay reads (``tee``), then reads the rest of the stream itself."""
    from scrobbler.cube_replay import run_cube_replay
    from scrobbler.logs import configure_logging

    configure_logging(settings.log)
    tune(FOLD)
    try:
        line = run_cube_replay(
            settings,
            nats_url,
            from_seq,
            restart,
            Console(stderr=True),
            report=queue.put,
            tee=TeeReceiver(tee),
        )
        queue.put(("done", line))
    except BaseException as exc:
        queue.put(("failed", f"{type(exc).__name__}: {exc}"))
        raise


def _replay_both(settings: Settings, url: str, from_seq: int, restart: bool, console: Console) -> list[str]:
    """SQL here and the cube in a second process, at once: each is about one core's work (the
    fold). The stream is read once: this process hands what it reads to the cube's
    (:mod:`projector.stream_tee`), which reads from the stream only what this one does not send."""
    ctx = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[object] = ctx.Queue()
    tee_out, tee_in = ctx.Pipe(duplex=False)
    child = ctx.Process(
        target=_cube_child, args=(settings, url, from_seq, restart, queue, tee_out), daemon=True
    )
    outcome: list[tuple[str, str]] = []
    with _progress(console) as progress:
        sql_report = _reporter(progress, "sql")
        cube_report = _reporter(progress, "cube")
        child.start()
        tee_out.close()  # the child's end: the pipe breaks when the child goes

        def drain() -> None:
            while True:
                try:
                    item = queue.get(timeout=0.5)
                except Empty:
                    if not child.is_alive():
                        return
                    continue
                if isinstance(item, ReplayProgress):
                    cube_report(item)
                else:
                    outcome.append(item)  # type: ignore[arg-type]
                    return

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        try:
            sql = asyncio.run(_run_sql(settings, url, from_seq, restart, sql_report, tee=tee_in))
        finally:
            tee_in.close()  # if the SQL replay never got to it: the cube's process reads alone
            reader.join()
            child.join()
    lines = [_sql_line(sql)]
    if not outcome or outcome[0][0] != "done":
        detail = outcome[0][1] if outcome else f"the cube process exited with {child.exitcode}"
        raise click.ClickException(f"{lines[0]}; cube replay failed: {detail}")
    return [*lines, outcome[0][1]]


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
    tune(FOLD)
    if not sql and not cube:
        sql = cube = True
    with _nats(settings) as url:
        if sql and cube and _cube_available():
            for line in _replay_both(settings, url, from_seq, restart, console):
                click.echo(line)
            return
        if sql:
            with progress_bar("sql", console) as report:
                result = asyncio.run(_run_sql(settings, url, from_seq, restart, report))
            click.echo(_sql_line(result))
        if cube:
            if not _cube_available():
                raise click.ClickException(
                    "cube replay is not available in this build (no cube replay module); the query API "
                    "rebuilds its cube from the stream when the cube file is deleted and it restarts"
                )
            from scrobbler.cube_replay import run_cube_replay

            click.echo(run_cube_replay(settings, url, from_seq, restart, console))
