"""Genre enrichment: LB tags on import, else a polite MusicBrainz lookup, folded into stats."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from query_api.cube import cube_extension
from query_api.routes.stats_all import cube_routes
from scrobbler.embedded_nats import EmbeddedNats
from tests.conftest import make_settings, running_stack
from tests.fakes.listenbrainz_server import FakeListenBrainz, serve_listenbrainz
from tests.fakes.musicbrainz_server import FakeMusicBrainz, serve_musicbrainz
from tests.integration.lb_support import USER_AGENT, wait_job, wait_until, with_remotes

RECORDING = "8f3471b5-7e6a-48da-86a9-c1c07a0f47ae"


def lb(ts: int, artist: str, title: str, **info: Any) -> dict[str, Any]:
    return {
        "listened_at": ts,
        "recording_msid": f"00000000-0000-4000-8000-{ts:012d}",
        "track_metadata": {"artist_name": artist, "track_name": title, "additional_info": info},
    }


async def test_genres_from_tags_then_musicbrainz_reach_the_stats(
    tmp_path: Path, nats_server: EmbeddedNats
) -> None:
    history = [
        lb(1_600_000_900, "Tagged", "T1", tags=["shoegaze"]),
        lb(1_600_000_600, "Searchable", "S1"),
        lb(1_600_000_500, "Searchable", "S2"),
        lb(1_600_000_300, "Whoever", "R1", recording_mbid=RECORDING),
        lb(1_600_000_000, "Unknown To MB", "U1"),
    ]
    fake_lb = FakeListenBrainz(listens={"lbuser": history})
    fake_mb = FakeMusicBrainz(
        recordings={RECORDING: ["techno", "house"]},
        artists={"Searchable": ("a1b2c3d4-0000-4000-8000-000000000001", ["jazz"])},
    )
    async with serve_listenbrainz(fake_lb) as lb_url, serve_musicbrainz(fake_mb) as mb_url:
        settings = with_remotes(make_settings(tmp_path, nats_server.url), lb_url, mb_url)
        async with running_stack(
            settings, extensions=[cube_extension(settings)], extra_routes=cube_routes()
        ) as s:
            r = await s.client.post("/api/v1/import/listenbrainz", json={"user": "lbuser", "local_user": "g"})
            job = await wait_job(s, r.json()["job_id"])
            assert job["progress"]["enrichment_queued"] == 4

            async def genres() -> dict[str, int]:
                body = (await s.client.get("/api/v1/stats/genres", params={"user": "g", "limit": 20})).json()
                return {i["name"]: i["listens"] for i in body.get("items", [])}

            async def enriched() -> bool:
                return await genres() == {"shoegaze": 1, "jazz": 2, "techno": 1, "house": 1}

            await wait_until(enriched, timeout=30)
            recent = (await s.client.get("/api/v1/listens/recent", params={"user": "g", "limit": 5})).json()
            by_title = {x["track"]["title"]: sorted(x["genres"]) for x in recent}
            assert by_title == {
                "T1": ["shoegaze"],
                "S1": ["jazz"],
                "S2": ["jazz"],
                "R1": ["house", "techno"],
                "U1": [],
            }
        # One lookup per artist or recording (the cache), at most one a second, with our User-Agent.
        assert len(fake_mb.calls) == 3
        assert fake_mb.too_fast == 0
        assert {ua for _, _, ua in fake_mb.calls} == {USER_AGENT}
