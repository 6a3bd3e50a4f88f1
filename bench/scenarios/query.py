"""query: top-50 artists (month, all time) over HTTP with 16 connections vs the same SQL on DuckDB."""

from __future__ import annotations

import importlib.util

from bench.context import Context
from bench.row import Row, unavailable

__all__ = ["available", "run"]

TARGET = "p99 < 50 ms; dashboard (all widgets) < 300 ms"


def available() -> bool:
    return importlib.util.find_spec("query_api.routes.stats") is not None


def run(ctx: Context) -> Row:
    if not available():
        return unavailable("ms p99", TARGET, "the stats endpoints (the analytics engineer builds them)")
    return unavailable("ms p99", TARGET, "stats endpoints present; wiring of this scenario pending")
