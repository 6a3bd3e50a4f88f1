"""replay: rebuild every read model from the stream with ``scrobbler replay`` (when it exists)."""

from __future__ import annotations

import subprocess

from bench.context import Context
from bench.row import Row, unavailable
from bench.servers import scrobbler

__all__ = ["available", "run"]

TARGET = "under 5 minutes for 10M events"


def available() -> bool:
    done = subprocess.run(scrobbler("replay", "--help"), capture_output=True, text=True)
    return done.returncode == 0


def run(ctx: Context) -> Row:
    if not available():
        # What the pieces of a replay cost in this run, so the row still says something.
        project, cube = ctx.rows.get("project"), ctx.rows.get("cube")
        row = unavailable("s for 10M", TARGET, "`scrobbler replay` (the operator engineer builds it)")
        if project is not None and project.figure:
            rates = [r.figure for r in (project, cube) if r is not None and r.figure]
            estimate = sum(10_000_000 / r for r in rates)
            row.details = {"estimate_s_from_project_and_cube_rates": estimate, "rates": rates}
            row.note += f"; estimate from this run's projection rates: {estimate:,.0f} s"
        return row
    raise NotImplementedError("wire `scrobbler replay` here once its options are settled")
