"""The built web UI in Debian's headless Chromium against the real stack, seeded with generated listens.

The Node script ``web/e2e/run.mjs`` (playwright-core) drives the pages; this module starts the stack,
seeds listens over HTTP, computes the figures the pages must show independently of the server, and
fails when the script reports a failed check. Screenshots land in ``docs/screenshots/``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scrobbler.embedded_nats import EmbeddedNats
from tests.conftest import REQUIRE_SERVICES, make_settings, running_stack

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
CHROMIUM = Path(os.environ.get("SCROBBLER_TEST_CHROMIUM", "/usr/bin/chromium"))
ARTISTS = ["Angerfist", "Miss K8", "Dr. Peacock", "Sefa"]
USERS = ["alice", "bob"]


def _need(condition: bool, reason: str) -> None:
    if condition:
        return
    if REQUIRE_SERVICES:
        pytest.fail(reason)
    pytest.skip(reason)


def _artist_of(i: int) -> str:
    """Zipf-like: half Angerfist, then Miss K8, Dr. Peacock, Sefa."""
    r = i % 10
    return ARTISTS[0] if r < 5 else ARTISTS[1] if r < 8 else ARTISTS[2] if r == 8 else ARTISTS[3]


def seed_listens(now: datetime, n: int = 120) -> list[dict[str, Any]]:
    """Listens every 3.3 days back from ``now`` (none within hours of a 7/30/365-day boundary)."""
    out = []
    for i in range(n):
        artist = _artist_of(i)
        out.append(
            {
                "user": USERS[i % 2],
                "listened_at": (now - timedelta(days=i * 3.3 + 0.6)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "duration_secs": 200 + i % 60,
                "track": {"title": f"{artist} Track {i % 2}", "album": f"{artist} Album", "album_year": 2020},
                "artists": [{"name": artist, "role": "primary"}],
                "genres": ["Hardcore" if i % 3 else "Frenchcore"],
            }
        )
    return out


def expected_figures(listens: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """What the pages must show, computed from the seed alone."""
    at = [datetime.fromisoformat(x["listened_at"].replace("Z", "+00:00")) for x in listens]

    def within(days: int) -> int:
        return sum(1 for t in at if t > now - timedelta(days=days))

    def top(key: Any) -> dict[str, Any]:
        name, count = Counter(key(x) for x in listens).most_common(1)[0]
        return {"name": name, "listens": count}

    years = Counter(t.year for t in at)
    newest = max(zip(at, listens, strict=True), key=lambda p: p[0])[1]
    return {
        "total": len(listens),
        "week": within(7),
        "month": within(30),
        "year": within(365),
        "user": USERS[0],
        "user_total": sum(1 for x in listens if x["user"] == USERS[0]),
        "newest_title": newest["track"]["title"],
        "year_of_most": years.most_common(1)[0][0],
        "top": {
            "artists": top(lambda x: x["artists"][0]["name"]),
            "albums": top(lambda x: x["track"]["album"]),
            "tracks": top(lambda x: x["track"]["title"]),
            "genres": top(lambda x: x["genres"][0]),
        },
        "search": {
            "artist_query": "peac",
            "artist_matches": 1,
            "history_query": "Sefa",
            "history_matches": sum(1 for x in listens if x["artists"][0]["name"] == "Sefa"),
        },
    }


def test_expected_figures_avoid_window_edges() -> None:
    """The seed keeps every listen hours away from the 7/30/365-day edges, so counts are exact."""
    now = datetime(2025, 6, 1, 12, tzinfo=UTC)
    figures = expected_figures(seed_listens(now), now)
    assert (figures["week"], figures["month"], figures["year"], figures["total"]) == (2, 9, 111, 120)
    assert figures["top"]["artists"] == {"name": "Angerfist", "listens": 60}


def _extensions(settings: Any) -> tuple[list[Any], list[Any]]:
    """The query API's optional features (the stats cube, SSE), as `scrobbler run` mounts them."""
    try:
        from scrobbler.features import query_extensions, query_extra_routes
    except ImportError:  # pragma: no cover - features not wired yet
        return [], []
    return query_extensions(settings), query_extra_routes()


def _ensure_build() -> None:
    if (WEB / "dist" / "index.html").is_file():
        return
    npm = shutil.which("npm")
    _need(npm is not None, "web/dist is not built and npm is missing (run `make web`)")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True)  # type: ignore[list-item]
    subprocess.run([npm, "run", "build"], cwd=WEB, check=True)  # type: ignore[list-item]


async def _wait_stats(stack: Any, total: int, timeout: float = 20.0) -> None:
    """Wait until the stats cube (when the server has one) shows every seeded listen."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        r = await stack.client.get("/api/v1/stats/kpis", params={"range": "all_time"})
        if r.status_code == 404:
            return
        if r.status_code == 200 and r.json()["current"]["listens"] == total:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the stats cube did not catch up with the seeded listens")


def _preflight() -> str:
    """Chromium, Node and a built UI, or a skip (a failure under SCROBBLER_TEST_REQUIRE_SERVICES=1)."""
    _need(CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install chromium")
    node = shutil.which("node")
    _need(node is not None, "node is missing")
    playwright = WEB / "node_modules" / "playwright-core"
    _need(playwright.is_dir(), "web/node_modules is missing: cd web && npm ci")
    _ensure_build()
    return str(node)


async def test_web_ui_end_to_end(tmp_path: Path, nats_server: EmbeddedNats) -> None:
    node = _preflight()

    settings = make_settings(tmp_path, nats_server.url)
    extensions, extra_routes = _extensions(settings)
    now = datetime.now(UTC).replace(microsecond=0)
    listens = seed_listens(now)
    expect = expected_figures(listens, now)
    async with running_stack(settings, extensions=extensions, extra_routes=extra_routes) as stack:
        r = await stack.client.post("/api/v1/scrobble", json=listens)
        assert r.status_code == 202, r.text
        assert await stack.wait_count(len(listens)) == len(listens)
        await _wait_stats(stack, len(listens))

        expect_file = tmp_path / "expect.json"
        expect_file.write_text(json.dumps(expect))
        shots = Path(os.environ.get("SCROBBLER_TEST_SCREENSHOTS", ROOT / "docs" / "screenshots"))
        proc = await asyncio.create_subprocess_exec(
            node,
            str(WEB / "e2e" / "run.mjs"),
            cwd=WEB,
            env={
                **os.environ,
                "BASE_URL": stack.base_url,
                "EXPECT": str(expect_file),
                "SHOTS": str(shots),
                "CHROMIUM": str(CHROMIUM),
            },
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout=240)
        except TimeoutError:
            proc.kill()
            raise
    report = out.decode(errors="replace")
    print(report)
    assert proc.returncode == 0, report
