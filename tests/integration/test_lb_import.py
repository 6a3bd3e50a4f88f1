"""ListenBrainz import as a job: paging, rate limits, idempotence, crash and resume, exact counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scrobbler.embedded_nats import EmbeddedNats
from tests.conftest import make_settings, running_stack
from tests.fakes.listenbrainz_server import FakeListenBrainz, make_listens, serve_listenbrainz
from tests.integration.lb_support import wait_job, wait_until, with_remotes

N = 2500


def history() -> list[dict[str, Any]]:
    """2500 listens, newest first, where listens on both sides of each 1000-listen page share a second."""
    listens = make_listens(N, user="lbuser")
    for edge in (1000, 2000):
        listens[edge]["listened_at"] = listens[edge - 1]["listened_at"]
    return listens


async def test_import_twice_stores_each_listen_once(tmp_path: Path, nats_server: EmbeddedNats) -> None:
    fake = FakeListenBrainz(listens={"lbuser": history()}, rate_limit_every=3, budget=2)
    async with serve_listenbrainz(fake) as lb_url:
        settings = with_remotes(make_settings(tmp_path, nats_server.url), lb_url)
        async with running_stack(settings) as s:
            r = await s.client.post("/api/v1/import/listenbrainz", json={"user": "lbuser", "page_size": 1000})
            assert r.status_code == 202, r.text
            job = await wait_job(s, r.json()["job_id"])
            p = job["progress"]
            assert (p["pages"], p["seen"], p["new"], p["duplicates"], p["errors"]) == (3, N, N, 0, 0)
            assert job["kind"] == "import-listenbrainz"
            assert await s.wait_count(N) == N
            assert fake.rate_limited >= 1

            again = await s.client.post(
                "/api/v1/import/listenbrainz", json={"user": "lbuser", "page_size": 1000}
            )
            job2 = await wait_job(s, again.json()["job_id"])
            p2 = job2["progress"]
            assert (p2["seen"], p2["new"], p2["duplicates"]) == (N, 0, N)
            assert await s.count() == N

            recent = (await s.client.get("/api/v1/listens/recent", params={"limit": 1})).json()[0]
            newest = fake.listens["lbuser"][0]
            assert recent["track"]["title"] == newest["track_metadata"]["track_name"]
            assert recent["source"] == "listenbrainz"
            assert sorted(recent["genres"]) == sorted(
                newest["track_metadata"]["additional_info"].get("tags", [])
            )


async def test_config_fallback_and_bad_requests(tmp_path: Path, nats_server: EmbeddedNats) -> None:
    fake = FakeListenBrainz(listens={"cfguser": make_listens(30, user="cfguser")})
    async with serve_listenbrainz(fake) as lb_url:
        settings = with_remotes(make_settings(tmp_path, nats_server.url), lb_url)
        async with running_stack(settings) as s:
            r = await s.client.post("/api/v1/import/listenbrainz", json={})
            assert r.status_code == 400
            assert "listenbrainz_user" in r.json()["detail"]
            r = await s.client.post("/api/v1/import/listenbrainz", json={"page_size": 5000})
            assert r.status_code == 400
            assert "page_size" in r.json()["detail"]
            await s.client.put("/api/v1/config", json={"listenbrainz_user": "cfguser", "default_user": "me"})

            async def configured() -> bool:
                cfg = (await s.client.get("/api/v1/config")).json()
                return bool(cfg.get("listenbrainz_user") == "cfguser")

            await wait_until(configured)
            r = await s.client.post("/api/v1/import/listenbrainz", json={"page_size": 7})
            job = await wait_job(s, r.json()["job_id"])
            assert job["progress"]["new"] == 30
            assert job["progress"]["pages"] == 5
            assert job["user"] == "me"
            assert await s.wait_count(30, user="me") == 30
            listed = (await s.client.get("/api/v1/jobs", params={"kind": "import-listenbrainz"})).json()
            assert [j["job_id"] for j in listed] == [job["job_id"]]
            unknown = await s.client.post("/api/v1/import/listenbrainz", json={"user": "nobody"})
            failed = await wait_job(s, unknown.json()["job_id"], status="failed")
            assert "404" in failed["error"]


async def test_crash_mid_import_resumes_with_exact_counts(tmp_path: Path, nats_server: EmbeddedNats) -> None:
    fake = FakeListenBrainz(listens={"lbuser": history()}, block_after_pages=2)
    async with serve_listenbrainz(fake) as lb_url:
        settings = with_remotes(make_settings(tmp_path, nats_server.url), lb_url)
        async with running_stack(settings) as s:
            r = await s.client.post("/api/v1/import/listenbrainz", json={"user": "lbuser", "page_size": 1000})
            job_id = r.json()["job_id"]
            await fake.blocked.wait()

            async def two_pages() -> bool:
                job = (await s.client.get(f"/api/v1/jobs/{job_id}")).json()
                return bool(job.get("progress", {}).get("pages") == 2)

            await wait_until(two_pages)
        # The process is gone mid-job; the job's state is still "running" with its cursor.
        fake.block_after_pages = None
        fake.release.set()
        async with running_stack(settings) as s:
            job = await wait_job(s, job_id)
            p = job["progress"]
            assert (p["pages"], p["seen"], p["new"], p["duplicates"], p["errors"]) == (3, N, N, 0, 0)
            assert await s.wait_count(N) == N
