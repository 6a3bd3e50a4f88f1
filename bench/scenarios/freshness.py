"""freshness: from the 202 of a listen to seeing it in recent listens and in the stats, under 5,000 listens/s.

Recent listens read the SQL read model (the projector); the stats read the query API's cube, a
second projection of the same stream. Each probe is timed to both.
"""

from __future__ import annotations

import subprocess
import threading
import time
from typing import Any

import httpx

from bench.context import Context
from bench.loadgen import percentiles
from bench.row import Row
from bench.servers import free_port, run_loadgen, scrobbler, scrobbler_env, spawn

__all__ = ["run"]

TARGET = "p99 < 1 s (under 5,000 listens/s)"
RATE = 5000
PER_REQUEST = 100


def _probe(client: httpx.Client, i: int, timeout: float = 10.0) -> tuple[int, int]:
    """Nanoseconds from the 202 to the listen shown in recent listens, and in the stats."""
    body = {
        "user": "probe",
        "listened_at": 1_700_000_000 + i,
        "track": {"title": f"Probe {i}"},
        "artists": [{"name": "Probe Artist"}],
    }
    r = client.post("/api/v1/scrobble", json=body)
    r.raise_for_status()
    t0 = time.perf_counter_ns()
    (listen_id,) = r.json()["listen_ids"]
    deadline = time.monotonic() + timeout
    in_sql = in_stats = 0
    while time.monotonic() < deadline:
        if not in_sql:
            recent = client.get("/api/v1/listens/recent", params={"user": "probe", "limit": 1}).json()
            if recent and recent[0]["listen_id"] == listen_id:
                in_sql = time.perf_counter_ns() - t0
        if not in_stats:
            kpis = client.get("/api/v1/stats/kpis", params={"user": "probe", "range": "all_time"}).json()
            if kpis["current"]["listens"] >= i + 1:
                in_stats = time.perf_counter_ns() - t0
        if in_sql and in_stats:
            return in_sql, in_stats
        time.sleep(0.005)
    raise TimeoutError(f"probe {i} not visible after {timeout}s")


def run(ctx: Context) -> Row:
    probes = 15 if ctx.quick else 100
    work = ctx.scratch("freshness")
    m = min(ctx.n, 200_000)
    bodies = ctx.bodies_file("fresh", start=0, stop=m, batch=PER_REQUEST)
    with ctx.nats("freshness") as nats:
        port = free_port()
        env = scrobbler_env(work / "data", nats.url, port=port)
        subprocess.run(scrobbler("migrate"), env=env, check=True, capture_output=True)
        with spawn(scrobbler("run"), env, work / "run.log", port=port, ready="/readyz") as server:
            load: dict[str, Any] = {}
            duration = 2.0 + probes * 0.3
            background = threading.Thread(
                target=lambda: load.update(
                    run_loadgen(
                        work / "load.json",
                        port=port,
                        path="/api/v1/scrobble",
                        bodies=bodies,
                        connections=8,
                        duration=duration,
                        warmup=0.5,
                        rate=RATE / PER_REQUEST,
                        cycle=True,
                    )
                )
            )
            background.start()
            time.sleep(1.0)
            with httpx.Client(base_url=server.url, timeout=10) as client:
                samples = [_probe(client, i) for i in range(probes)]
            background.join()
    p = percentiles([s for s, _ in samples])
    st = percentiles([s for _, s in samples])
    offered = load.get("rps", 0.0) * PER_REQUEST
    ctx.say(
        f"freshness: recent listens p50 {p['p50_ms']:.0f} ms p99 {p['p99_ms']:.0f} ms, stats p50"
        f" {st['p50_ms']:.0f} ms p99 {st['p99_ms']:.0f} ms under {offered:,.0f} listens/s"
    )
    worst = max(p["p99_ms"], st["p99_ms"])
    return Row(
        figure=round(worst, 1),
        unit="ms p99",
        ceiling=None,
        ratio=None,
        target=TARGET,
        pass_=worst < 1000 and offered >= 0.9 * RATE,
        note=(
            f"the slower of: recent listens (SQL read model, SQLite) p99 {p['p99_ms']:,.0f} ms, stats"
            f" (DuckDB cube, all-time KPIs of the probe user) p99 {st['p99_ms']:,.0f} ms; `scrobbler run`,"
            f" {offered:,.0f} listens/s offered"
        ),
        details={
            **p,
            "stats": st,
            "probes": probes,
            "background_listens_per_s": offered,
            "load": load,
        },
    )
