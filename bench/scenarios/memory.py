"""memory: resident memory of each process over the largest projection and the ingest runs."""

from __future__ import annotations

from typing import Any

from bench.context import Context
from bench.row import Row

__all__ = ["run"]

TARGET = "flat (no growth with stream length); ingest < 200 MB"
FLAT = 0.15
"""Growth from a quarter of the run to its end that still counts as flat."""


def run(ctx: Context) -> Row:
    seen: dict[str, dict[str, Any]] = {}
    for scenario, procs in ctx.rss.items():
        for name, summary in procs.items():
            seen[f"{scenario}/{name}"] = summary
    for scenario in ("ingest-single", "ingest-batch"):
        row = ctx.rows.get(scenario)
        if row is not None:
            for name, summary in row.details.get("rss", {}).items():
                seen[f"{scenario}/{name}"] = summary
    ingest_peak = max((s["peak_mb"] for k, s in seen.items() if k.endswith("/ingest")), default=None)
    growth = {k: s["growth"] for k, s in seen.items() if k.startswith(("project/", "cube/", "replay/"))}
    flat = bool(growth) and all(g <= FLAT for k, g in growth.items() if "nats-server" not in k)
    if ingest_peak is None:
        return Row(
            figure=None,
            unit="MB ingest peak",
            ceiling=None,
            ratio=None,
            target=TARGET,
            pass_=False,
            note="no ingest run in this selection",
            details={"processes": seen},
        )
    return Row(
        figure=round(ingest_peak, 1),
        unit="MB ingest peak",
        ceiling=None,
        ratio=None,
        target=TARGET,
        pass_=ingest_peak < 200 and flat,
        note="projector growth "
        + ", ".join(f"{k} {g:+.0%}" for k, g in growth.items())
        + f" (flat = at most {FLAT:.0%}; nats-server caches are not counted)",
        details={"processes": seen},
    )
