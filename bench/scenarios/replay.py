"""replay: ``scrobbler replay`` rebuilds every read model (SQL and cube) from the stream's first event."""

from __future__ import annotations

import asyncio
import subprocess
import time

from bench.context import Context
from bench.row import Row, unavailable
from bench.servers import RssSampler, scrobbler, scrobbler_env
from bench.stream_load import fill_stream

__all__ = ["available", "run"]

TARGET = "under 5 minutes for 10M events"
TEN_M = 10_000_000


def available() -> bool:
    done = subprocess.run(scrobbler("replay", "--help"), capture_output=True, text=True)
    return done.returncode == 0


def run(ctx: Context) -> Row:
    if not available():
        return unavailable("s for 10M", TARGET, "`scrobbler replay` (the operator engineer builds it)")
    n = ctx.n
    work = ctx.scratch("replay")
    with ctx.nats("replay") as nats:
        asyncio.run(fill_stream(nats.url, ctx.events))
        env = scrobbler_env(work / "data", nats.url)
        subprocess.run(scrobbler("migrate"), env=env, check=True, capture_output=True)
        t0 = time.perf_counter()
        with (work / "replay.log").open("wb") as log:
            proc = subprocess.Popen(scrobbler("replay"), env=env, stdout=log, stderr=subprocess.STDOUT)
            with RssSampler({"replay": proc.pid, "nats-server": nats.process.pid}) as rss:
                code = proc.wait(3600)
        seconds = time.perf_counter() - t0
    if code != 0:
        raise RuntimeError(f"scrobbler replay exited with {code}: {(work / 'replay.log').read_text()[-400:]}")
    ctx.rss["replay"] = rss.summary()
    rates = [
        r.ceiling for r in (ctx.rows.get("project"), ctx.rows.get("cube")) if r is not None and r.ceiling
    ]
    ceiling_s = sum(n / r for r in rates) if len(rates) == 2 else None
    per_10m = seconds * TEN_M / n
    ctx.say(f"replay: {n:,} events in {seconds:.1f}s ({n / seconds:,.0f}/s) → {per_10m:,.0f}s for 10M")
    return Row(
        figure=round(per_10m, 1),
        unit="s for 10M (extrapolated)",
        ceiling=round(ceiling_s * TEN_M / n, 1) if ceiling_s else None,
        ratio=round(ceiling_s / seconds, 3) if ceiling_s else None,
        target=TARGET,
        pass_=per_10m < 300,
        note=f"measured {seconds:.1f}s for {n:,} events (SQLite + cube, process start included); "
        "ceiling = sum of the project and cube ceilings",
        details={"events": n, "seconds": seconds, "rss": ctx.rss["replay"]},
    )
