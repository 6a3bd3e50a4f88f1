"""``scrobbler status`` and ``GET /api/v1/admin/status``: the stream, its consumers, the read models.

One :func:`gather_status` serves both: stream size and sequences (``stream_info``), each durable
consumer's lag (``num_pending``: events it has not been delivered yet), unacknowledged events and
last activity (``consumers_info``), and each read model's position: the SQL projections'
``projection_checkpoint`` rows and, when given, the cube's checkpoint.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import click
import msgspec
from nats.js import JetStreamContext
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from projector.tables import projection_checkpoint
from scrobbler.settings import Settings

__all__ = [
    "ConsumerStatus",
    "ReadModelStatus",
    "Status",
    "StreamStatus",
    "gather_status",
    "status_command",
]


class StreamStatus(msgspec.Struct, frozen=True):
    """The event stream."""

    name: str
    messages: int
    bytes: int
    first_seq: int
    last_seq: int


class ConsumerStatus(msgspec.Struct, frozen=True):
    """A durable consumer of the stream (one per projection and partition)."""

    name: str
    lag: int
    """Events in its filter not yet delivered to it."""
    ack_pending: int
    """Events delivered but not yet acknowledged (being applied)."""
    delivered_seq: int
    ack_floor_seq: int
    last_active: datetime | None
    paused: bool


class ReadModelStatus(msgspec.Struct, frozen=True):
    """A read model's position: the last stream sequence it applied."""

    name: str
    kind: str
    """``sql`` or ``cube``."""
    position: int
    behind: int
    """Stream sequences after its position (for a partition, other partitions' events count too)."""
    updated_at: datetime | None = None


class Status(msgspec.Struct, frozen=True):
    """Everything an operator checks first."""

    generated_at: datetime
    stream: StreamStatus
    consumers: list[ConsumerStatus]
    read_models: list[ReadModelStatus]


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def gather_status(
    js: JetStreamContext,
    settings: Settings,
    engine: AsyncEngine,
    *,
    cube: tuple[str, int] | None = None,
    cube_updated_at: datetime | None = None,
) -> Status:
    """The status of the stream and the read models (``cube``: the cube's (name, position);
    ``cube_updated_at``: when its last batch committed, if the caller knows)."""
    info = await js.stream_info(settings.nats.stream)
    st = info.state
    last = int(st.last_seq or 0)
    stream = StreamStatus(
        name=settings.nats.stream,
        messages=int(st.messages or 0),
        bytes=int(st.bytes or 0),
        first_seq=int(st.first_seq or 0),
        last_seq=last,
    )
    consumers = []
    for c in sorted(await js.consumers_info(settings.nats.stream), key=lambda c: c.name or ""):
        if not c.config.durable_name:
            continue  # ephemeral readers (a running replay or backup)
        seen = [s.last_active for s in (c.delivered, c.ack_floor) if s is not None and s.last_active]
        active = max(seen) if seen else None
        consumers.append(
            ConsumerStatus(
                name=c.name,
                lag=int(c.num_pending or 0),
                ack_pending=int(c.num_ack_pending or 0),
                delivered_seq=int(c.delivered.stream_seq if c.delivered else 0),
                ack_floor_seq=int(c.ack_floor.stream_seq if c.ack_floor else 0),
                last_active=_utc(active),
                paused=bool(c.paused),
            )
        )
    models = []
    cp = projection_checkpoint
    async with engine.connect() as conn:
        rows = await conn.execute(select(cp.c.name, cp.c.stream_seq, cp.c.updated_at).order_by(cp.c.name))
        for name, seq, updated in rows:
            models.append(
                ReadModelStatus(
                    name=name,
                    kind="sql",
                    position=int(seq),
                    behind=max(last - int(seq), 0),
                    updated_at=_utc(updated),
                )
            )
    if cube is not None:
        name, position = cube
        behind = max(last - position, 0)
        models.append(
            ReadModelStatus(
                name=name, kind="cube", position=position, behind=behind, updated_at=_utc(cube_updated_at)
            )
        )
    return Status(generated_at=datetime.now(UTC), stream=stream, consumers=consumers, read_models=models)


def _ago(at: datetime | None, now: datetime) -> str:
    if at is None:
        return "never"
    secs = int((now - at).total_seconds())
    if secs < 120:
        return f"{secs}s ago"
    if secs < 7200:
        return f"{secs // 60}m ago"
    return f"{secs // 3600}h ago"


def render(status: Status, console: Console) -> None:
    """The status as tables."""
    s = status.stream
    t = Table(title=f"stream {s.name}")
    for col in ("messages", "bytes", "first seq", "last seq"):
        t.add_column(col, justify="right")
    t.add_row(f"{s.messages:,}", f"{s.bytes:,}", str(s.first_seq), str(s.last_seq))
    console.print(t)
    t = Table(title="consumers")
    for col, just in (
        ("name", "left"),
        ("lag", "right"),
        ("unacked", "right"),
        ("delivered", "right"),
        ("last activity", "left"),
        ("paused", "left"),
    ):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for c in status.consumers:
        t.add_row(
            c.name,
            f"{c.lag:,}",
            f"{c.ack_pending:,}",
            str(c.delivered_seq),
            _ago(c.last_active, status.generated_at),
            "yes" if c.paused else "",
        )
    console.print(t)
    t = Table(title="read models")
    for col, just in (
        ("name", "left"),
        ("kind", "left"),
        ("position", "right"),
        ("behind", "right"),
        ("updated", "left"),
    ):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for m in status.read_models:
        t.add_row(
            m.name,
            m.kind,
            str(m.position),
            f"{m.behind:,}",
            _ago(m.updated_at, status.generated_at) if m.updated_at else "",
        )
    console.print(t)


async def _cli_status(settings: Settings, nats_url: str) -> Status:
    from projector.db import create_engine
    from scrobbler.stream import StreamClient

    client = StreamClient(nats_url, settings.nats, name="scrobbler-status")
    engine = create_engine(settings.db.dsn, pool_size=1)
    try:
        await asyncio.wait_for(client.connect(declare=False), 10)
        assert client.js is not None
        return await gather_status(client.js, settings, engine, cube=_cube_position(settings))
    finally:
        await client.close()
        await engine.dispose()


def _cube_position(settings: Settings) -> tuple[str, int] | None:
    """The cube file's checkpoint when no query API holds it (else its consumer shows the lag)."""
    import duckdb

    path = settings.db.duckdb_path
    if not path.exists():
        return None
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return None
    try:
        rows = con.execute("SELECT name, stream_seq FROM projection_checkpoint").fetchall()
    except duckdb.Error:
        return None
    finally:
        con.close()
    return (str(rows[0][0]), int(rows[0][1])) if rows else None


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status_command(as_json: bool) -> None:
    """Stream size and sequences, each consumer's lag and last activity, each read model's position."""
    from scrobbler.cli_env import command_settings as _settings
    from scrobbler.cli_env import command_stream as _nats

    settings = _settings()
    with _nats(settings) as url:
        status = asyncio.run(_cli_status(settings, url))
    if as_json:
        click.echo(msgspec.json.format(msgspec.json.encode(status), indent=2))
    else:
        render(status, Console())
