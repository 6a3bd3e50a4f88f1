"""Shared by the replay, backup, partition and schema-evolution tests: streams and table snapshots."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import nats
from sqlalchemy import inspect, select

from projector.db import create_engine
from projector.tables import metadata, projection_checkpoint
from schemas.events import ArtistCredit, Event, ListenRecorded, encode_event
from schemas.listens import new_listen
from schemas.subjects import user_subject
from scrobbler.settings import Settings
from scrobbler.stream import ensure_stream

RECEIVED = datetime(2025, 1, 1, tzinfo=UTC)


def listens_for(start: int, n: int, users: int = 7) -> list[ListenRecorded]:
    """``n`` distinct listens of ``users`` users, deterministic."""
    return [
        new_listen(
            user=f"user{i % users}",
            listened_at=datetime.fromtimestamp(1_500_000_000 + i * 61, tz=UTC),
            title=f"Track {i % 5000}",
            artists=[
                ArtistCredit(name=f"Artist {i % 97}"),
                ArtistCredit(name=f"Guest {i % 13}", role="featured"),
            ],
            received_at=RECEIVED,
            album=f"Album {i % 50}",
            duration_secs=200,
            genres=(f"genre{i % 5}",),
        )
        for i in range(start, start + n)
    ]


def scrobbles_for(start: int, n: int, users: int = 7) -> list[dict[str, Any]]:
    """The same kind of listens as HTTP bodies of ``POST /api/v1/scrobble``."""
    return [
        {
            "user": f"user{i % users}",
            "listened_at": 1_500_000_000 + i * 61,
            "track": {"title": f"Track {i % 5000}", "album": f"Album {i % 50}", "duration_secs": 200},
            "artists": [{"name": f"Artist {i % 97}"}, {"name": f"Guest {i % 13}", "role": "featured"}],
            "genres": [f"genre{i % 5}"],
        }
        for i in range(start, start + n)
    ]


async def publish_raw(
    settings: Settings, events: list[Event] | list[bytes], users: list[str] | None = None
) -> int:
    """Append events straight to the stream (pipelined); returns the last sequence."""
    nc = await nats.connect(settings.nats.url or "")
    js = nc.jetstream(timeout=10)
    await ensure_stream(js, settings.nats)
    last = 0
    try:
        window: list[asyncio.Future[Any]] = []
        for i, ev in enumerate(events):
            if isinstance(ev, bytes):
                assert users is not None
                subject, data, msg_id = user_subject(settings.nats.subject_prefix, users[i]), ev, None
            else:
                user = getattr(ev, "user", None) or "nobody"
                subject, data, msg_id = (
                    user_subject(settings.nats.subject_prefix, user),
                    encode_event(ev),
                    ev.event_id,
                )
            headers = {"Nats-Msg-Id": msg_id} if msg_id else None
            window.append(await js.publish_async(subject, data, headers=headers))
            if len(window) >= 2000:
                last = max(a.seq for a in await asyncio.gather(*window))
                window = []
        if window:
            last = max(a.seq for a in await asyncio.gather(*window))
    finally:
        await nc.close()
    return last


async def snapshot(dsn: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every read-model table, sorted; checkpoints without their wall-clock time; the
    names of the database's tables."""
    engine = create_engine(dsn)
    out: dict[str, list[tuple[Any, ...]]] = {}
    try:
        async with engine.connect() as conn:
            for table in metadata.sorted_tables:
                if table is projection_checkpoint:
                    rows = await conn.execute(select(table.c.name, table.c.stream_seq))
                else:
                    rows = await conn.execute(select(table))
                out[table.name] = sorted(tuple(r) for r in rows)
            # and nothing else: a replay leaves none of its own tables in the live database
            names = await conn.run_sync(lambda c: inspect(c).get_table_names())
            out["tables in the database"] = [(n,) for n in sorted(names)]
    finally:
        await engine.dispose()
    return out


async def sql_position(dsn: str, name: str = "sql") -> int:
    engine = create_engine(dsn)
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    select(projection_checkpoint.c.stream_seq).where(projection_checkpoint.c.name == name)
                )
            ).scalar_one_or_none()
    finally:
        await engine.dispose()
    return int(row or 0)


async def wait_position(dsn: str, seq: int, name: str = "sql", timeout: float = 60.0) -> int:
    """Wait until the SQL checkpoint ``name`` reaches ``seq``."""
    deadline = asyncio.get_running_loop().time() + timeout
    pos = await sql_position(dsn, name)
    while pos < seq and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
        pos = await sql_position(dsn, name)
    return pos


def cli_env(settings: Settings) -> dict[str, str]:
    """The environment that points a ``scrobbler`` command at this test's stream and database."""
    import os

    return {
        **os.environ,
        "SCROBBLER_NATS_URL": settings.nats.url or "",
        "SCROBBLER_NATS_STREAM": settings.nats.stream,
        "SCROBBLER_NATS_SUBJECT_PREFIX": settings.nats.subject_prefix,
        "SCROBBLER_DB_DSN": settings.db.dsn,
        "SCROBBLER_DUCKDB_PATH": str(settings.db.duckdb_path),
        "SCROBBLER_DATA_DIR": str(settings.data_dir),
        "SCROBBLER_LOG_LEVEL": "WARNING",
    }


async def run_cli(settings: Settings, *args: str, timeout: float = 120.0) -> tuple[int, str, str]:
    """Run ``python -m scrobbler.cli ARGS`` against this test's services; (code, stdout, stderr)."""
    import sys

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "scrobbler.cli",
        *args,
        env=cli_env(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode or 0, out.decode(), err.decode()
