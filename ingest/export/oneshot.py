"""The one-shot ListenBrainz export job: every stored listen, oldest first, in batches of ≤ 100.

Per batch: listens that came from ListenBrainz, that were already sent to this account
(``lb_exported``), that ListenBrainz already has (same second, artist and title in the account's
history), or that cannot be described (unresolved media ids) are skipped with their reason;
the rest are submitted, and recorded in ``lb_exported`` once ListenBrainz answered 200.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import msgspec
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ingest.export.payload import (
    ALREADY_EXPORTED,
    ALREADY_ON_LB,
    LB_MARK,
    ExportListen,
    lb_payload,
    local_key,
    remote_key,
    skip_reason,
)
from ingest.export.record import already_exported, record_exported
from ingest.importers.lb_listen import LB_LISTEN_DECODER
from ingest.importers.listenbrainz import ListenBrainzClient
from ingest.jobs.context import JobContext
from projector.tables import albums, artists, credit_sets, listens, tracks

__all__ = ["KIND", "fetch_batch", "remote_keys", "run_lb_export"]

KIND = "export-listenbrainz"


async def fetch_batch(
    conn: AsyncConnection, *, after: tuple[datetime, str] | None, limit: int, user: str | None
) -> list[ExportListen]:
    """The next ``limit`` listens in (listened_at, listen_id) order after ``after``."""
    stmt = (
        select(
            listens.c.listen_id,
            listens.c.user_name,
            listens.c.listened_at,
            tracks.c.title,
            albums.c.title,
            listens.c.source,
            listens.c.duration_secs,
            listens.c.track_no,
            listens.c.disc_no,
            listens.c.recording_mbid,
            listens.c.release_mbid,
            tracks.c.isrc,
            listens.c.unresolved,
            listens.c.extra,
        )
        .join(tracks, tracks.c.id == listens.c.track_id)
        .outerjoin(albums, albums.c.id == listens.c.album_id)
        .order_by(listens.c.listened_at, listens.c.listen_id)
        .limit(limit)
    )
    if user is not None:
        stmt = stmt.where(listens.c.user_name == user)
    if after is not None:
        at, lid = after
        stmt = stmt.where(
            or_(listens.c.listened_at > at, and_(listens.c.listened_at == at, listens.c.listen_id > lid))
        )
    rows = (await conn.execute(stmt)).all()
    credits: dict[str, list[tuple[str, str]]] = defaultdict(list)
    if rows:
        credit_rows = await conn.execute(
            select(listens.c.listen_id, artists.c.name, credit_sets.c.role)
            .join(credit_sets, credit_sets.c.set_id == listens.c.credit_set_id)
            .join(artists, artists.c.id == credit_sets.c.artist_id)
            .where(listens.c.listen_id.in_([r[0] for r in rows]))
            .order_by(listens.c.listen_id, credit_sets.c.position)
        )
        for lid, name, role in credit_rows:
            credits[lid].append((name, role))
    return [
        ExportListen(
            listen_id=r[0],
            user=r[1],
            listened_at=r[2].replace(tzinfo=UTC),
            title=r[3],
            album=r[4],
            source=r[5],
            duration_secs=r[6],
            track_no=r[7],
            disc_no=r[8],
            recording_mbid=r[9],
            release_mbid=r[10],
            isrc=r[11],
            unresolved=bool(r[12]),
            lb_msid=bool(r[13]) and f'"{LB_MARK}"' in r[13],
            artists=tuple(credits.get(r[0], ())),
        )
        for r in rows
    ]


async def remote_keys(
    client: ListenBrainzClient, lb_user: str, since: int, until: int
) -> set[tuple[int, str, str]]:
    """(second, artist, title) of the account's listens between ``since`` and ``until`` inclusive."""
    keys: set[tuple[int, str, str]] = set()
    max_ts = until + 1
    while True:
        raws = await client.listens(lb_user, count=1000, max_ts=max_ts)
        oldest = max_ts
        for raw in raws:
            try:
                listen = LB_LISTEN_DECODER.decode(raw)
            except (msgspec.DecodeError, msgspec.ValidationError):
                continue
            meta = listen.track_metadata
            keys.add(remote_key(listen.listened_at, meta.artist_name, meta.track_name))
            oldest = min(oldest, listen.listened_at)
        if len(raws) < 1000 or oldest < since or oldest >= max_ts:
            return keys
        max_ts = oldest


async def run_lb_export(ctx: JobContext) -> None:
    """Export every stored listen (of ``params.user`` when given); resumable from ``cursor.after``."""
    p = ctx.progress
    token = ctx.secrets.get("listenbrainz_token") or await ctx.directory.config_value("listenbrainz_token")
    if not token:
        raise ValueError("listenbrainz_token: not configured (PUT /api/v1/config) and not given")
    client = ListenBrainzClient(ctx.settings.remote.listenbrainz_base_url, ctx.http, token=token)
    owner = await client.validate_token()
    if not owner:
        raise ValueError("listenbrainz_token: ListenBrainz says the token is not valid")
    lb_user = str(p.params.get("lb_user") or "") or owner
    p.params["lb_user"] = lb_user
    listen_type = str(p.params.get("listen_type", "import"))
    batch_size = 1 if listen_type == "single" else int(p.params.get("batch_size", 100))
    user = p.params.get("user")
    after_raw = p.cursor.get("after")
    after = (datetime.fromisoformat(after_raw[0]), str(after_raw[1])) if after_raw else None
    engine = ctx.engine
    while True:
        async with engine.connect() as conn:
            batch = await fetch_batch(conn, after=after, limit=batch_size, user=user)
            if not batch:
                break
            sent_before = await already_exported(conn, lb_user, [x.listen_id for x in batch])
        candidates = []
        for listen in batch:
            reason = skip_reason(listen) or (ALREADY_EXPORTED if listen.listen_id in sent_before else None)
            if reason:
                p.skip(reason, listen_id=listen.listen_id)
            else:
                candidates.append(listen)
        if candidates:
            first = int(candidates[0].listened_at.timestamp())
            last = int(candidates[-1].listened_at.timestamp())
            present = await remote_keys(client, lb_user, first, last)
            to_send = []
            for listen in candidates:
                if local_key(listen) in present:
                    p.skip(ALREADY_ON_LB, listen_id=listen.listen_id)
                else:
                    to_send.append(listen)
            if to_send:
                await client.submit(listen_type, [lb_payload(x) for x in to_send])
                async with engine.begin() as conn:
                    await record_exported(conn, lb_user, [x.listen_id for x in to_send])
                p.submitted += len(to_send)
        p.pages += 1
        p.seen += len(batch)
        after = (batch[-1].listened_at.replace(tzinfo=None), batch[-1].listen_id)
        p.cursor = {"after": [after[0].isoformat(), after[1]]}
        await ctx.report("running")
