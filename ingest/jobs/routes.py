"""``POST /api/v1/import/listenbrainz``, ``/api/v1/import/file``, ``/api/v1/export/listenbrainz``.

Each starts a job in this process and answers with its id at once (202); progress is at
``GET /api/v1/jobs/{id}``. The export waits up to ``wait_s`` for a small export to finish so
its answer can carry the report, as the original product's did.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, post
from litestar.params import QueryParameter
from msgspec import Meta

from ingest.admin import require_admin
from ingest.importers.formats import FORMATS, UnknownFormat, detect_format
from ingest.jobs.context import JobContext
from ingest.jobs.runner import JobRunner
from ingest.state import IngestState
from schemas.types import UserName
from scrobbler.errors import BadRequest, Unavailable

__all__ = ["JobStarted", "job_routes"]

MAX_UPLOAD_BYTES = 8 << 30


class LbImportRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Import a ListenBrainz user's history; ``user``/``token`` default to the config keys."""

    user: UserName | None = None
    """ListenBrainz user name (default: config ``listenbrainz_user``)."""
    page_size: Annotated[int, Meta(ge=1, le=1000)] = 1000
    token: str | None = None
    """ListenBrainz token (default: config ``listenbrainz_token``); optional for public histories."""
    local_user: UserName | None = None
    """Our user the listens belong to (default: config ``default_user``)."""


class LbExportRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Send stored listens to ListenBrainz, oldest first."""

    listen_type: Literal["import", "single"] = "import"
    batch_size: Annotated[int, Meta(ge=1, le=100)] = 100
    user: UserName | None = None
    """ListenBrainz user name (default: config ``listenbrainz_user``, else the token's owner)."""
    token: str | None = None
    """ListenBrainz token (default: config ``listenbrainz_token``)."""
    local_user: UserName | None = None
    """Export only this user's listens (default: every user's)."""
    wait_s: Annotated[float, Meta(ge=0, le=300)] = 25.0
    """Wait this long for the export to finish and answer with its report (else 202 and a job id)."""


class JobStarted(msgspec.Struct, frozen=True):
    job_id: str
    kind: str
    status: str
    url: str


class ExportReport(msgspec.Struct, frozen=True):
    """The export's outcome so far: submitted, skipped (with reasons, per listen up to 1000)."""

    job_id: str
    status: str
    submitted: int
    skipped: int
    seen: int
    skipped_reasons: dict[str, int]
    skipped_listens: list[dict[str, Any]]
    error: str | None = None
    url: str = ""


def _runner(request: Request[Any, Any, Any]) -> tuple[IngestState, JobRunner]:
    runner = getattr(request.app.state, "jobs", None)
    if runner is None:
        raise Unavailable("the job runner is not running in this process")
    return request.app.state.ingest, runner


def _started(ctx: JobContext) -> JobStarted:
    return JobStarted(job_id=ctx.job_id, kind=ctx.kind, status=ctx.status, url=f"/api/v1/jobs/{ctx.job_id}")


def _decode(body: bytes, kind: type[Any]) -> Any:
    try:
        return msgspec.json.decode(body or b"{}", type=kind)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise BadRequest(str(exc)) from exc


@post(
    "/api/v1/import/listenbrainz",
    status_code=202,
    tags=["jobs"],
    summary="Import a ListenBrainz user's listening history (a resumable, idempotent job)",
    description=(
        "Body `{user, page_size, token, local_user}`, every field optional (`user`/`token` default to the"
        " config keys `listenbrainz_user`/`listenbrainz_token`). Answers 202 with the job id at once;"
        " progress at `GET /api/v1/jobs/{id}`. Re-running skips listens already stored."
    ),
)
async def import_listenbrainz(request: Request[Any, Any, Any]) -> JobStarted:
    state, runner = _runner(request)
    await require_admin(request, state.settings.http.api_key, state.directory)
    body: LbImportRequest = _decode(await request.body(), LbImportRequest)
    lb_user = body.user or await state.directory.config_value("listenbrainz_user")
    if not lb_user:
        raise BadRequest("user: no ListenBrainz user given and config listenbrainz_user is not set")
    local_user = body.local_user or await state.directory.default_user()
    params = {"lb_user": lb_user, "page_size": body.page_size, "local_user": local_user}
    ctx = await runner.start(
        "import-listenbrainz",
        local_user,
        params,
        secrets={"listenbrainz_token": body.token} if body.token else None,
    )
    return _started(ctx)


@post(
    "/api/v1/import/file",
    status_code=202,
    tags=["jobs"],
    request_max_body_size=MAX_UPLOAD_BYTES,
    summary="Import a listening-history file (ListenBrainz, Last.fm CSV, Spotify, Maloja)",
    description=(
        "Body: the file itself (`curl --data-binary @file`). `format` = `listenbrainz` (JSON or JSON lines),"
        " `lastfm` (CSV), `spotify` (streaming history JSON) or `maloja` (export JSON); detected when"
        " omitted. `user`: our user the listens belong to (default: config `default_user`). The upload is"
        " stored, then parsed as a stream by a job; bad rows are counted and listed with their line."
    ),
)
async def import_file(
    request: Request[Any, Any, Any],
    format_: Annotated[str | None, QueryParameter(name="format")] = None,
    user: Annotated[str | None, QueryParameter(name="user", max_length=64)] = None,
    filename: Annotated[str | None, QueryParameter(name="filename", max_length=256)] = None,
) -> JobStarted:
    state, runner = _runner(request)
    await require_admin(request, state.settings.http.api_key, state.directory)
    if format_ is not None and format_ not in FORMATS:
        raise BadRequest(f"format: {format_!r} is not one of {', '.join(FORMATS)}")
    folder = state.settings.data_dir / "imports"
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}.upload"
    fh = await asyncio.to_thread(path.open, "wb")
    size = 0
    with fh:
        async for chunk in request.stream():
            size += len(chunk)
            fh.write(chunk)
    fmt = format_ or await _detect(path, filename or "")
    if size == 0:
        await asyncio.to_thread(path.unlink, True)
        raise BadRequest("empty body: send the file as the request body (curl --data-binary @FILE)")
    local_user = user or await state.directory.default_user()
    params = {"path": str(path), "format": fmt, "local_user": local_user, "bytes": size, "delete_after": True}
    return _started(await runner.start("import-file", local_user, params))


async def _detect(path: Path, name: str) -> str:
    def detect() -> str:
        with path.open("rb") as fp:
            return detect_format(fp, name)

    try:
        return await asyncio.to_thread(detect)
    except UnknownFormat as exc:
        await asyncio.to_thread(path.unlink, True)
        raise BadRequest(f"format: cannot tell the file's format ({exc}); pass ?format=") from exc


@post(
    "/api/v1/export/listenbrainz",
    tags=["jobs"],
    summary="Export stored listens to ListenBrainz (oldest first, batches of up to 100)",
    description=(
        "Body `{listen_type, batch_size, user, token, local_user, wait_s}`, every field optional. Skips"
        " listens that came from ListenBrainz, were already exported, are already on ListenBrainz, or cannot"
        " be described (unresolved); the report says why per listen. 200 with the report when the export"
        " finished within `wait_s`, else 202 with the report so far and the job id."
    ),
    status_code=200,
)
async def export_listenbrainz(request: Request[Any, Any, Any]) -> Response[ExportReport]:
    state, runner = _runner(request)
    await require_admin(request, state.settings.http.api_key, state.directory)
    body: LbExportRequest = _decode(await request.body(), LbExportRequest)
    token = body.token or await state.directory.config_value("listenbrainz_token")
    if not token:
        raise BadRequest("token: no ListenBrainz token given and config listenbrainz_token is not set")
    lb_user = body.user or await state.directory.config_value("listenbrainz_user") or None
    params = {
        "lb_user": lb_user,
        "listen_type": body.listen_type,
        "batch_size": body.batch_size,
        "user": body.local_user,
    }
    ctx = await runner.start(
        "export-listenbrainz",
        body.local_user,
        params,
        secrets={"listenbrainz_token": body.token} if body.token else None,
    )
    ctx = await runner.wait(ctx.job_id, body.wait_s)
    p = ctx.progress
    report = ExportReport(
        job_id=ctx.job_id,
        status=ctx.status,
        submitted=p.submitted,
        skipped=p.skipped,
        seen=p.seen,
        skipped_reasons=p.skipped_reasons,
        skipped_listens=p.skipped_listens,
        error=ctx.error,
        url=f"/api/v1/jobs/{ctx.job_id}",
    )
    return Response(report, status_code=200 if ctx.status in ("done", "failed") else 202)


def job_routes() -> list[Any]:
    return [import_listenbrainz, import_file, export_listenbrainz]
