"""ingest-single: ``POST /api/v1/scrobble`` one listen per request, 64 connections, vs a bare hello-world."""

from __future__ import annotations

import os
import subprocess
import sys

from bench.context import Context
from bench.row import Row
from bench.servers import RssSampler, free_port, run_loadgen, scrobbler, scrobbler_env, spawn

__all__ = ["run"]

TARGET = "≥ 0.6 of ceiling, ≥ 5,000 req/s, p99 < 25 ms"


def run(ctx: Context) -> Row:
    duration = 4.0 if ctx.quick else 15.0
    bodies = ctx.bodies_file("single", start=0, stop=min(ctx.n, 200_000))
    work = ctx.scratch("ingest-single")

    port = free_port()
    with spawn(
        [sys.executable, "-m", "bench.hello", "--port", str(port)],
        dict(os.environ),
        work / "hello.log",
        port=port,
        ready="/healthz",
    ):
        ceiling = run_loadgen(
            work / "hello.json",
            port=port,
            path="/api/v1/scrobble",
            bodies=bodies,
            duration=duration,
            cycle=True,
        )
    ctx.say(
        f"ingest-single ceiling (hello-world): {ceiling['rps']:,.0f} req/s p99 {ceiling['p99_ms']:.1f} ms"
    )

    with ctx.nats("ingest-single") as nats:
        port = free_port()
        env = scrobbler_env(work / "data", nats.url, port=port)
        subprocess.run(scrobbler("migrate"), env=env, check=True, capture_output=True)
        with (
            spawn(scrobbler("ingest"), env, work / "ingest.log", port=port, ready="/readyz") as server,
            RssSampler({"ingest": server.proc.pid, "nats-server": nats.process.pid}) as rss,
        ):
            ours = run_loadgen(
                work / "ours.json",
                port=port,
                path="/api/v1/scrobble",
                bodies=bodies,
                duration=duration,
                cycle=True,
            )
    ctx.say(f"ingest-single ours: {ours['rps']:,.0f} req/s p99 {ours['p99_ms']:.1f} ms {ours['statuses']}")
    ok_share = ours["ok"] / max(1, ours["requests"])
    ratio = ours["rps"] / ceiling["rps"]
    return Row(
        figure=round(ours["rps"], 1),
        unit="req/s",
        ceiling=round(ceiling["rps"], 1),
        ratio=round(ratio, 3),
        target=TARGET,
        pass_=ratio >= 0.6 and ours["rps"] >= 5000 and ours["p99_ms"] < 25 and ok_share == 1.0,
        details={"ours": ours, "ceiling": ceiling, "rss": rss.summary(), "duration_s": duration},
    )
