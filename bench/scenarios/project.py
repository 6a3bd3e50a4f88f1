"""project: the SQL projector (its own process) from 0 to N events into a fresh MariaDB database.

Ceiling, same run: a raw pull consumer over the same stream that decodes each message and
``executemany``s the very rows the fold produces (built before the clock starts) into another
fresh database, one transaction per 1000 events, acking after commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.context import Context
from bench.row import Row
from bench.servers import RssSampler, scrobbler, scrobbler_env, spawn
from bench.stream_load import connect, consume, fill_stream
from projector.db import create_engine
from projector.folds.sql_rows import COLUMNS, Writes, plan
from projector.migrate import migrate
from projector.pull import Delivery, ack_sequences
from projector.tables import albums, artists, credit_sets, genre_sets, genres, listens, tracks, users
from schemas.events import decode_event

__all__ = ["MARIADB", "mariadb_database", "run"]

TARGET = "≥ 0.75 of ceiling, ≥ 30,000 events/s"
MARIADB = os.environ.get("SCROBBLER_BENCH_MARIADB", "mysql+asyncmy://root@127.0.0.1:3306")
CHUNK = 1000
_TABLES = [users, artists, albums, tracks, genres, credit_sets, genre_sets, listens]


@contextlib.asynccontextmanager
async def mariadb_database(tag: str) -> AsyncIterator[str]:
    """A fresh MariaDB database (dropped afterwards); yields its DSN."""
    name = f"bench_{tag}_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(MARIADB + "/mysql")
    async with admin.begin() as conn:
        await conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"))
    try:
        yield f"{MARIADB}/{name}"
    finally:
        async with admin.begin() as conn:
            await conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        await admin.dispose()


def _table_rows(w: Writes) -> dict[str, list[tuple[Any, ...]]]:
    """The fold's rows with every column of their table, in the table's order."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table in _TABLES:
        cols = [c.name for c in table.columns]
        if list(COLUMNS[table.name]) == cols:
            out[table.name] = w.inserted(table.name)
        else:
            out[table.name] = [tuple(r.get(c) for c in cols) for r in w.records(table.name)]
    return out


def _prebuilt_rows(ctx: Context, n: int) -> list[dict[str, list[tuple[Any, ...]]]]:
    """The fold's rows of every chunk of 1000 events (stream sequence = row index + 1)."""
    chunks = []
    for lo in range(0, n, CHUNK):
        batch = [(i + 1, decode_event(ctx.events.payloads[i])) for i in range(lo, min(n, lo + CHUNK))]
        (writes,) = plan(batch)
        assert isinstance(writes, Writes)
        chunks.append(_table_rows(writes))
    return chunks


async def _ceiling(ctx: Context, nats_url: str, dsn: str, n: int) -> float:
    engine = create_engine(dsn)
    await migrate(engine)
    await engine.dispose()
    chunks = _prebuilt_rows(ctx, n)
    statements = {
        t.name: f"INSERT IGNORE INTO `{t.name}` ({', '.join(f'`{c.name}`' for c in t.columns)}) "
        f"VALUES ({', '.join(['%s'] * len(t.columns))})"
        for t in _TABLES
    }
    import asyncmy

    # INSERT IGNORE of catalogue rows seen before raises warnings that asyncmy logs one by one.
    logging.getLogger("asyncmy").setLevel(logging.ERROR)

    db = dsn.rsplit("/", 1)[1]
    conn = await asyncmy.connect(
        host="127.0.0.1", port=3306, user="root", db=db, charset="utf8mb4", autocommit=False
    )
    decoder = msgspec.json.Decoder()
    buffered: list[Delivery] = []

    async def on_batch(msgs: list[Delivery]) -> None:
        buffered.extend(msgs)
        while buffered:
            k = (ack_sequences(buffered[0].reply)[1] - 1) // CHUNK
            end = min(n, (k + 1) * CHUNK)
            if ack_sequences(buffered[-1].reply)[1] < end:
                return
            take = end - k * CHUNK
            for m in buffered[:take]:
                decoder.decode(m.data)
            del buffered[:take]
            async with conn.cursor() as cur:
                for name, rows in chunks[k].items():
                    if rows:
                        await cur.executemany(statements[name], rows)
            await conn.commit()

    nc, js = await connect(nats_url)
    try:
        seconds = await consume(js, "SCROBBLES", n, on_batch)
    finally:
        await nc.close()
        conn.close()
    return n / seconds


async def _checkpoint(engine: AsyncEngine) -> int:
    with contextlib.suppress(Exception):
        async with engine.connect() as conn:
            value = (await conn.execute(text("SELECT MAX(stream_seq) FROM projection_checkpoint"))).scalar()
            return int(value or 0)
    return 0


async def _follow(dsn: str, n: int, timeout: float) -> tuple[float, int, float]:
    """Poll the checkpoint until it reaches ``n``: (rate, first position seen, seconds)."""
    engine = create_engine(dsn)
    try:
        first_at, first_pos = 0.0, 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pos = await _checkpoint(engine)
            now = time.perf_counter()
            if pos and not first_at:
                first_at, first_pos = now, pos
            if pos >= n:
                seconds = now - first_at
                return (n - first_pos) / max(seconds, 1e-9), first_pos, seconds
            await asyncio.sleep(0.05)
        raise TimeoutError(f"projector did not reach {n} within {timeout}s (at {pos})")
    finally:
        await engine.dispose()


def run(ctx: Context) -> Row:
    n = ctx.n
    work = ctx.scratch("project")
    with ctx.nats("project") as nats:
        seconds = asyncio.run(fill_stream(nats.url, ctx.events, stop=n))
        ctx.say(f"project: {n:,} events in the stream ({n / seconds:,.0f}/s, ingest's pipelined publisher)")

        async def ceiling() -> float:
            async with mariadb_database("ceil") as dsn:
                return await _ceiling(ctx, nats.url, dsn, n)

        ceil = asyncio.run(ceiling())
        ctx.say(f"project ceiling (raw consume + executemany): {ceil:,.0f} events/s")

        async def ours() -> tuple[tuple[float, int, float], dict[str, Any]]:
            async with mariadb_database("proj") as dsn:
                env = scrobbler_env(work / "data", nats.url, dsn=dsn)
                with (
                    spawn(scrobbler("projector", "--no-http"), env, work / "projector.log") as proc,
                    RssSampler({"projector": proc.proc.pid, "nats-server": nats.process.pid}) as rss,
                ):
                    followed = await _follow(dsn, n, timeout=1800)
                return followed, rss.summary()

        (rate, first_pos, took), rss = asyncio.run(ours())
    ctx.rss["project"] = rss
    ctx.say(f"project ours (scrobbler projector → MariaDB): {rate:,.0f} events/s")
    ratio = rate / ceil
    return Row(
        figure=round(rate, 1),
        unit="events/s",
        ceiling=round(ceil, 1),
        ratio=round(ratio, 3),
        target=TARGET,
        pass_=ratio >= 0.75 and rate >= 30_000,
        note=f"{n:,} events, MariaDB" + ("" if n >= 1_000_000 else " (target is stated for 1M)"),
        details={"events": n, "seconds": took, "first_checkpoint": first_pos, "rss": rss},
    )
