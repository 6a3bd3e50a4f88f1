"""``python -m bench``: every scenario of PERFORMANCE.md, each beside its ceiling measured in this run."""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import structlog

from bench import report
from bench.context import SYNC_INTERVAL, Context
from bench.generate import DEFAULT_SEED, parse_size
from bench.row import Row
from bench.scenarios import cube, freshness, ingest_batch, ingest_single, memory, peer, project, query, replay

SCENARIOS: dict[str, Callable[[Context], Row]] = {
    "ingest-single": ingest_single.run,
    "ingest-batch": ingest_batch.run,
    "project": project.run,
    "cube": cube.run,
    "replay": replay.run,
    "query": query.run,
    "freshness": freshness.run,
    "peer": peer.run,
    "memory": memory.run,
}
ORDER = ["ingest-single", "ingest-batch", "project", "cube", "replay", "query", "freshness", "memory", "peer"]
"""Rows in PERFORMANCE.md's order (memory and peer run last: they read the others' figures)."""


def settings() -> dict[str, str]:
    import uvicorn

    from scrobbler.gc_tuning import FOLD_YOUNG, HTTP_YOUNG

    return {
        "HTTP server": f"uvicorn {uvicorn.__version__}, loop uvloop, http httptools, 1 worker, backlog 2048",
        "garbage collector": f"start-up heap frozen (gc.freeze); gen-0 threshold {HTTP_YOUNG:,} for ingest,"
        f" and the projector, {FOLD_YOUNG:,} for the cube's folding (query API, replay)",
        "JetStream sync_interval": f"{SYNC_INTERVAL} (acked before fsync, fsync every {SYNC_INTERVAL})",
        "SQL read model": "MariaDB 127.0.0.1:3306 for project; SQLite (WAL) for freshness",
        "load generator": "python -m bench.loadgen: raw HTTP/1.1 keep-alive on uvloop, its own process",
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small sizes and short runs (under 2 minutes)")
    p.add_argument(
        "--size", default=None, help="listens in the data set: 100k, 1m or 10m (default 1m, quick 10k)"
    )
    p.add_argument("--only", default="", help="comma-separated scenarios, e.g. ingest-single,project")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    n = parse_size(args.size or ("10k" if args.quick else "1m"))
    chosen = [s.strip() for s in args.only.split(",") if s.strip()] or list(SCENARIOS)
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        p.error(f"unknown scenario(s) {sorted(unknown)}; choose from {', '.join(SCENARIOS)}")
    workdir = Path(tempfile.mkdtemp(prefix="scrobbler-bench-"))
    ctx = Context(n=n, quick=args.quick, workdir=workdir, seed=args.seed)
    started = time.monotonic()
    doc = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "size": n,
        "quick": args.quick,
        "machine": report.machine(),
        "settings": settings(),
    }
    ctx.say(f"bench: {n:,} listens, scenarios {', '.join(chosen)}, work dir {workdir}")
    rows: dict[str, Row] = {}
    try:
        for name in [s for s in SCENARIOS if s in chosen]:
            t0 = time.monotonic()
            try:
                rows[name] = SCENARIOS[name](ctx)
            except Exception as exc:  # noqa: BLE001  (one failed scenario still leaves a row and the others run)
                traceback.print_exc()
                rows[name] = Row(
                    figure=None,
                    unit="",
                    ceiling=None,
                    ratio=None,
                    target="",
                    pass_=False,
                    note=f"failed: {exc!r:.200}",
                )
            ctx.rows[name] = rows[name]
            rows[name].details["scenario_seconds"] = round(time.monotonic() - t0, 1)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    ordered = {name: rows[name] for name in ORDER if name in rows}
    doc["total_seconds"] = round(time.monotonic() - started, 1)
    path, table = report.write(doc, ordered)
    print("\n" + table)
    print(f"results: {path} (and bench/results/latest.json), docs/benchmarks.md, docs/bench-latest.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
