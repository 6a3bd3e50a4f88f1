"""The file import job: parse an uploaded history file as a stream, publish listens in batches.

The cursor is the number of rows consumed and acknowledged; a resumed job re-reads the file
and skips that many rows (parsing is cheap; the listens were already stored).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from ingest.importers.formats import parse_file
from ingest.importers.rows import Bad, Parsed, Row, Skipped
from ingest.jobs.context import MAX_PUBLISH_BATCH, JobContext

__all__ = ["KIND", "run_file_import"]

KIND = "import-file"


def _take(rows: Iterator[Row], n: int) -> list[Row]:
    return list(itertools.islice(rows, n))


async def run_file_import(ctx: JobContext) -> None:
    """Import every row of ``params.path`` in format ``params.format``; resumable from ``cursor.rows``."""
    p = ctx.progress
    path = Path(str(p.params["path"]))
    done_rows = int(p.cursor.get("rows", 0))
    fp = await asyncio.to_thread(path.open, "rb")
    with fp:
        rows = parse_file(
            fp, str(p.params["format"]), user=str(p.params["local_user"]), received_at=datetime.now(UTC)
        )
        if done_rows:
            await asyncio.to_thread(_take, rows, done_rows)
        while True:
            batch = await asyncio.to_thread(_take, rows, MAX_PUBLISH_BATCH)
            if not batch:
                break
            events = []
            for row in batch:
                if isinstance(row, Parsed):
                    events.append(row.event)
                elif isinstance(row, Bad):
                    p.bad(row)
                elif isinstance(row, Skipped):
                    p.skipped_row(row)
            result = await ctx.publish(events)
            dup = result.duplicate_count
            p.pages += 1
            p.seen += len(batch)
            p.new += len(events) - dup
            p.duplicates += dup
            if ctx.enqueue_enrichment is not None:
                fresh = [e for e, d in zip(events, result.duplicates, strict=True) if not d and not e.genres]
                p.enrichment_queued += ctx.enqueue_enrichment(fresh)
            done_rows += len(batch)
            p.cursor = {"rows": done_rows}
            await ctx.report("running")
    if p.params.get("delete_after"):
        await asyncio.to_thread(path.unlink, True)
