"""ListenBrainz export: the one-shot job (submitted/skipped with reasons) and continuous sync."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from sqlalchemy import select

from projector.db import create_engine
from projector.lb_export import SYNC_NAME
from projector.tables import projection_checkpoint
from scrobbler.embedded_nats import EmbeddedNats
from tests.conftest import SEED_SCROBBLE, Stack, make_settings, running_stack
from tests.fakes.listenbrainz_server import FakeListenBrainz, make_listens, serve_listenbrainz
from tests.integration.lb_support import wait_job, wait_until, with_remotes


def scrobble(ts: int, title: str, artist: str = "Local Artist") -> dict[str, Any]:
    body = copy.deepcopy(SEED_SCROBBLE)
    body.update(user="me", listened_at=ts, track={"title": title}, artists=[{"name": artist}])
    return body


async def configure(s: Stack, **values: str) -> None:
    r = await s.client.put("/api/v1/config", json=values)
    assert r.status_code == 200, r.text

    async def applied() -> bool:
        cfg = (await s.client.get("/api/v1/config")).json()
        return all(cfg.get(k) == v for k, v in values.items() if k != "listenbrainz_token")

    await wait_until(applied)


async def test_one_shot_export_reports_submitted_and_skipped(
    tmp_path: Path, nats_server: EmbeddedNats
) -> None:
    remote = make_listens(3, user="lbuser", start_ts=1_650_000_000)
    fake = FakeListenBrainz(listens={"lbuser": remote}, tokens={"tok": "lbuser"})
    async with serve_listenbrainz(fake) as lb_url:
        settings = with_remotes(make_settings(tmp_path, nats_server.url), lb_url)
        async with running_stack(settings) as s:
            await configure(s, listenbrainz_user="lbuser", listenbrainz_token="tok", default_user="me")
            assert (
                await s.client.post("/api/v1/export/listenbrainz", json={"batch_size": 101})
            ).status_code == 400
            job = await wait_job(
                s,
                (await s.client.post("/api/v1/import/listenbrainz", json={"user": "lbuser"})).json()[
                    "job_id"
                ],
            )
            assert job["progress"]["new"] == 3
            ours = [scrobble(1_700_000_000 + i * 300, f"Mine {i}") for i in range(5)]
            on_lb = remote[0]
            meta = on_lb["track_metadata"]
            # Played here too and already on ListenBrainz, but not imported: same second, artist, title.
            twin = scrobble(on_lb["listened_at"], meta["track_name"], meta["artist_name"])
            twin["user"] = "other"
            r = await s.client.post("/api/v1/scrobble", json=[*ours, twin])
            assert r.status_code == 202
            assert await s.wait_count(9) == 9

            r = await s.client.post(
                "/api/v1/export/listenbrainz", json={"listen_type": "import", "batch_size": 2}
            )
            assert r.status_code == 200, r.text
            report = r.json()
            assert report["status"] == "done"
            assert (report["submitted"], report["skipped"], report["seen"]) == (5, 4, 9)
            assert report["skipped_reasons"] == {"came from ListenBrainz": 3, "already on ListenBrainz": 1}
            assert len(report["skipped_listens"]) == 4
            assert all(x["listen_id"] and x["reason"] for x in report["skipped_listens"])
            assert sorted(x["track_metadata"]["track_name"] for x in fake.submitted) == [
                f"Mine {i}" for i in range(5)
            ]
            assert fake.submit_calls == 3  # batches of 2

            again = (await s.client.post("/api/v1/export/listenbrainz", json={})).json()
            assert (again["submitted"], again["skipped"]) == (0, 9)
            assert again["skipped_reasons"]["already exported to this ListenBrainz account"] == 5
            assert len(fake.submitted) == 5
            # Job state is read from the SQL read model: visible once the projector applied it.
            job = await wait_job(s, again["job_id"], "done", timeout=10)
            assert job["kind"] == "export-listenbrainz"

            bad = await s.client.post(
                "/api/v1/export/listenbrainz", json={"token": "wrong", "user": "lbuser"}
            )
            assert bad.json()["status"] == "failed"
            assert "not valid" in bad.json()["error"]


async def _sync_position(settings: Any) -> int:
    engine = create_engine(settings.db.dsn)
    try:
        async with engine.connect() as conn:
            value = (
                await conn.execute(
                    select(projection_checkpoint.c.stream_seq).where(
                        projection_checkpoint.c.name == SYNC_NAME
                    )
                )
            ).scalar_one_or_none()
            return int(value or 0)
    finally:
        await engine.dispose()


async def test_sync_forwards_new_listens_once_across_restarts(
    tmp_path: Path, nats_server: EmbeddedNats
) -> None:
    fake = FakeListenBrainz(listens={"lbuser": make_listens(4, user="lbuser")}, tokens={"tok": "lbuser"})
    async with serve_listenbrainz(fake) as lb_url:
        settings = with_remotes(make_settings(tmp_path, nats_server.url), lb_url)
        async with running_stack(settings) as s:
            before = await s.client.post("/api/v1/scrobble", json=scrobble(1_690_000_000, "Before sync"))
            assert before.status_code == 202
            await configure(s, listenbrainz_token="tok", listenbrainz_sync="on", default_user="me")

            async def started() -> bool:
                return await _sync_position(settings) > 0

            await wait_until(started, timeout=30)
            first = [scrobble(1_700_000_000 + i * 200, f"Sync {i}") for i in range(150)]
            assert (await s.client.post("/api/v1/scrobble", json=first)).status_code == 202
            job = await s.client.post("/api/v1/import/listenbrainz", json={"user": "lbuser"})
            await wait_job(s, job.json()["job_id"])

            async def sent(n: int) -> bool:
                return len(fake.submitted) >= n

            await wait_until(lambda: sent(150), timeout=30)
        fake.fail_submits = 2  # ListenBrainz is down for a moment after the restart
        async with running_stack(settings) as s:
            more = [scrobble(1_710_000_000 + i * 200, f"After {i}") for i in range(30)]
            assert (await s.client.post("/api/v1/scrobble", json=more)).status_code == 202
            await wait_until(lambda: sent(180), timeout=60)
            titles = [x["track_metadata"]["track_name"] for x in fake.submitted]
            assert len(titles) == len(set(titles)) == 180
            assert "Before sync" not in titles
            assert not any(t.startswith("Song ") for t in titles)  # imported from ListenBrainz: not sent back
            assert fake.fail_submits == 0
