"""ingest-batch: 1000 listens per request (``/1/submit-listens`` when present) vs raw publish_async."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import httpx

from bench.context import Context
from bench.row import Row
from bench.servers import RssSampler, free_port, run_loadgen, scrobbler, scrobbler_env, spawn
from bench.stream_load import connect, create_stream, publish_events

__all__ = ["run"]

TARGET = "≥ 0.7 of ceiling, ≥ 30,000 listens/s"
BATCH = 1000


async def _ceiling(url: str, ctx: Context, m: int) -> float:
    nc, js = await connect(url)
    try:
        await create_stream(js, "CEILING", "ceiling")
        seconds = await publish_events(js, ctx.events, stream="CEILING", prefix="ceiling", stop=m)
    finally:
        await nc.close()
    return m / seconds


def _token(env: dict[str, str], url: str, work: Path) -> str | None:
    """A ListenBrainz token of user ``bench`` (``scrobbler user add``), projected so ingest knows it.

    A projector runs only until the token validates, so it does not compete for the cores during
    the measurement. None when the command is absent.
    """
    done = subprocess.run(scrobbler("user", "add", "bench"), env=env, capture_output=True, text=True)
    words = [w for w in done.stdout.split() if len(w) >= 20]
    if done.returncode != 0 or not words:
        return None
    token = words[-1]
    with spawn(scrobbler("projector", "--no-http"), env, work / "projector.log"):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            r = httpx.get(url + "/1/validate-token", headers={"Authorization": f"Token {token}"}, timeout=10)
            if r.status_code == 200 and r.json().get("valid"):
                return token
            time.sleep(0.2)
    return None


def run(ctx: Context) -> Row:
    m = min(ctx.n, 100_000 if ctx.quick else 1_000_000)
    m -= m % BATCH
    work = ctx.scratch("ingest-batch")
    with ctx.nats("ingest-batch") as nats:
        ceiling = asyncio.run(_ceiling(nats.url, ctx, m))
        ctx.say(f"ingest-batch ceiling (raw publish_async): {ceiling:,.0f} listens/s")
        port = free_port()
        env = scrobbler_env(work / "data", nats.url, port=port)
        subprocess.run(scrobbler("migrate"), env=env, check=True, capture_output=True)
        with spawn(scrobbler("ingest"), env, work / "ingest.log", port=port, ready="/readyz") as server:
            paths = httpx.get(server.url + "/schema/openapi.json", timeout=30).json().get("paths", {})
            token = _token(env, server.url, work) if "/1/submit-listens" in paths else None
            if token:
                endpoint, headers = "/1/submit-listens", [f"Authorization: Token {token}"]
                bodies = ctx.bodies_file("batch-lb", start=0, stop=m, batch=BATCH, lb=True)
            else:
                endpoint, headers = "/api/v1/scrobble", []
                bodies = ctx.bodies_file("batch", start=0, stop=m, batch=BATCH)
            with RssSampler({"ingest": server.proc.pid, "nats-server": nats.process.pid}) as rss:
                ours = run_loadgen(
                    work / "ours.json",
                    port=port,
                    path=endpoint,
                    bodies=bodies,
                    connections=4,
                    duration=600,
                    warmup=0,
                    headers=headers,
                )
    rate = ours["ok"] * BATCH / ours["seconds"]
    ctx.say(f"ingest-batch ours ({endpoint}): {rate:,.0f} listens/s, statuses {ours['statuses']}")
    ratio = rate / ceiling
    return Row(
        figure=round(rate, 1),
        unit="listens/s",
        ceiling=round(ceiling, 1),
        ratio=round(ratio, 3),
        target=TARGET,
        pass_=ratio >= 0.7 and rate >= 30_000 and ours["ok"] == ours["requests"],
        note=f"via {endpoint}"
        + ("" if token else " (ListenBrainz endpoint or its token command not in the tree)"),
        details={"ours": ours, "listens": m, "endpoint": endpoint, "rss": rss.summary()},
    )
