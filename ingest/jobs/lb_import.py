"""The ListenBrainz import job: page backwards through a user's history, publish every listen.

Cursor: ``max_ts`` is the oldest second seen so far; each page asks for listens up to and
including that second (``max_ts + 1``, ListenBrainz's bound is exclusive) so listens sharing a
second across a page boundary are not lost, and ``boundary`` holds the ids already taken at that
second, so nothing is counted twice. The cursor is stored (a JobUpdated event) only after the
page's listens were acknowledged by the stream: a crash resumes at the page it was on.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec

from ingest.importers.lb_listen import LB_LISTEN_DECODER, lb_listen_event
from ingest.importers.listenbrainz import ListenBrainzClient
from ingest.importers.rows import Bad, RowError
from ingest.jobs.context import JobContext
from schemas.events import ListenRecorded

__all__ = ["KIND", "PageResult", "convert_page", "run_lb_import"]

KIND = "import-listenbrainz"


class _Stamp(msgspec.Struct):
    listened_at: int


_STAMP = msgspec.json.Decoder(_Stamp)


@dataclass
class PageResult:
    """A page's listens not taken before, its bad listens, and the new cursor."""

    events: list[ListenRecorded] = field(default_factory=list)
    bad: list[Bad] = field(default_factory=list)
    oldest: int | None = None
    boundary: set[str] = field(default_factory=set)
    fresh: int = 0


def convert_page(
    raws: list[msgspec.Raw],
    *,
    user: str,
    received_at: datetime,
    taken: set[str],
    cursor: int | None,
    first_row: int,
) -> PageResult:
    """Events of one page, minus listens in ``taken`` (ids already imported at second ``cursor``). Pure."""
    out = PageResult()
    for i, raw in enumerate(raws):
        error = ""
        try:
            ts = _STAMP.decode(raw).listened_at
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            out.bad.append(Bad(first_row + i, f"listen without listened_at: {exc}"))
            out.fresh += 1
            continue
        try:
            event = lb_listen_event(LB_LISTEN_DECODER.decode(raw), user=user, received_at=received_at)
            key = event.event_id
        except (msgspec.DecodeError, msgspec.ValidationError, RowError) as exc:
            event, key = None, f"bad:{ts}:{zlib.crc32(bytes(raw)):x}"
            error = str(exc)
        if cursor is not None and ts == cursor and key in taken:
            continue
        out.fresh += 1
        if out.oldest is None or ts < out.oldest:
            out.oldest, out.boundary = ts, set()
        if ts == out.oldest:
            out.boundary.add(key)
        if event is None:
            out.bad.append(Bad(first_row + i, f"listened_at {ts}: {error}"))
        else:
            out.events.append(event)
    if cursor is not None and out.oldest == cursor:
        out.boundary |= taken
    return out


async def run_lb_import(ctx: JobContext) -> None:
    """Import until ListenBrainz has no older listens; resumable from ``progress.cursor``."""
    p = ctx.progress
    lb_user = str(p.params["lb_user"])
    local_user = str(p.params["local_user"])
    page_size = int(p.params.get("page_size", 1000))
    token = ctx.secrets.get("listenbrainz_token") or await ctx.directory.config_value("listenbrainz_token")
    client = ListenBrainzClient(ctx.settings.remote.listenbrainz_base_url, ctx.http, token=token or None)
    cursor: int | None = p.cursor.get("max_ts")
    taken: set[str] = set(p.cursor.get("boundary", []))
    exclusive = bool(p.cursor.get("exclusive", False))
    while True:
        max_ts = None if cursor is None else (cursor if exclusive else cursor + 1)
        raws = await client.listens(lb_user, count=page_size, max_ts=max_ts)
        page = convert_page(
            raws,
            user=local_user,
            received_at=datetime.now(UTC),
            taken=taken,
            cursor=cursor,
            first_row=p.seen + 1,
        )
        if not raws or (page.fresh == 0 and len(raws) < page_size):
            break
        if page.fresh == 0:
            # A full page of one second already taken: more listens in one second than a page holds.
            exclusive = True
            p.cursor = {"max_ts": cursor, "boundary": [], "exclusive": True}
            continue
        result = await ctx.publish(page.events)
        dup = result.duplicate_count
        p.pages += 1
        p.seen += page.fresh
        p.new += len(page.events) - dup
        p.duplicates += dup
        for bad in page.bad:
            p.bad(bad)
        if ctx.enqueue_enrichment is not None:
            fresh = [e for e, d in zip(page.events, result.duplicates, strict=True) if not d and not e.genres]
            p.enrichment_queued += ctx.enqueue_enrichment(fresh)
        cursor, taken, exclusive = page.oldest, page.boundary, False
        p.cursor = {"max_ts": cursor, "boundary": sorted(taken), "exclusive": False}
        await ctx.report("running")
