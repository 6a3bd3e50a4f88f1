"""Shared by the ListenBrainz sync tests: settings pointing at the fake servers, job polling."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from scrobbler.settings import Settings
from tests.conftest import Stack

USER_AGENT = "scrobbler-tests/0.1 ( tests@example.org )"


def with_remotes(settings: Settings, lb_url: str, mb_url: str = "http://127.0.0.1:9/ws/2") -> Settings:
    remote = dataclasses.replace(
        settings.remote,
        listenbrainz_base_url=lb_url,
        musicbrainz_base_url=mb_url,
        musicbrainz_user_agent=USER_AGENT,
    )
    return settings.replace(remote=remote)


async def wait_job(stack: Stack, job_id: str, status: str = "done", timeout: float = 60.0) -> dict[str, Any]:
    """Poll ``GET /api/v1/jobs/{id}`` until the job reaches ``status``; returns the job."""
    deadline = asyncio.get_running_loop().time() + timeout
    job: dict[str, Any] = {}
    while asyncio.get_running_loop().time() < deadline:
        r = await stack.client.get(f"/api/v1/jobs/{job_id}")
        if r.status_code == 200:
            job = r.json()
            if job["status"] == status:
                return job
            assert job["status"] in ("running", "queued"), job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not reach {status}: {job}")


async def wait_until(predicate: Any, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.05)
