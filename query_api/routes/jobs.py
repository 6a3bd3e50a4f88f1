"""``GET /api/v1/jobs`` and ``GET /api/v1/jobs/{id}``: import, export and scan jobs with their progress."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, get
from litestar.params import FromPath, FromQuery, QueryParameter
from sqlalchemy import select

from projector.tables import jobs
from query_api.state import QueryState
from scrobbler.errors import NotFound

__all__ = ["JobOut", "job_read_routes"]


class JobOut(msgspec.Struct, frozen=True):
    """A job's latest state: ``progress`` holds its counters (pages, seen, new, duplicates, errors...)."""

    job_id: str
    kind: str
    status: str
    user: str | None
    progress: dict[str, Any]
    error: str | None
    created_at: datetime
    updated_at: datetime


def _state(request: Request[Any, Any, Any]) -> QueryState:
    return request.app.state.query  # type: ignore[no-any-return]


def _out(row: Any) -> JobOut:
    return JobOut(
        job_id=row.job_id,
        kind=row.kind,
        status=row.status,
        user=row.user_name,
        progress=msgspec.json.decode(row.progress) if row.progress else {},
        error=row.error,
        created_at=row.created_at.replace(tzinfo=UTC),
        updated_at=row.updated_at.replace(tzinfo=UTC),
    )


@get("/api/v1/jobs/{job_id:str}", tags=["jobs"], summary="One job's status and progress")
async def one_job(request: Request[Any, Any, Any], job_id: FromPath[str]) -> JobOut:
    async with _state(request).engine.connect() as conn:
        row = (await conn.execute(select(jobs).where(jobs.c.job_id == job_id))).first()
    if row is None:
        raise NotFound(f"job_id: no job {job_id!r}")
    return _out(row)


@get("/api/v1/jobs", tags=["jobs"], summary="Recent jobs, newest first")
async def list_jobs(
    request: Request[Any, Any, Any],
    kind: FromQuery[str | None] = None,
    status: FromQuery[str | None] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
) -> list[JobOut]:
    stmt = select(jobs).order_by(jobs.c.created_at.desc()).limit(limit)
    if kind is not None:
        stmt = stmt.where(jobs.c.kind == kind)
    if status is not None:
        stmt = stmt.where(jobs.c.status == status)
    async with _state(request).engine.connect() as conn:
        return [_out(r) for r in (await conn.execute(stmt)).all()]


def job_read_routes() -> list[Any]:
    return [one_job, list_jobs]
