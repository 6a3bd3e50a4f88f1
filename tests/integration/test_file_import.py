"""File imports over HTTP: each format, detected or given, idempotent, bad rows reported by line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scrobbler.embedded_nats import EmbeddedNats
from tests.conftest import make_settings, running_stack
from tests.integration.lb_support import wait_job
from tests.unit.test_importers_formats import SAMPLES


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
async def test_each_format_imports_once_and_reports_bad_rows(
    fmt: str, tmp_path: Path, nats_server: EmbeddedNats
) -> None:
    body, expected = SAMPLES[fmt]
    async with running_stack(make_settings(tmp_path, nats_server.url)) as s:
        r = await s.client.post("/api/v1/import/file", params={"user": "filer"}, content=body)
        assert r.status_code == 202, r.text
        job = await wait_job(s, r.json()["job_id"])
        p = job["progress"]
        assert p["params"]["format"] == fmt
        assert (p["new"], p["errors"], p["skipped"]) == (
            expected["listens"],
            len(expected["bad"]),
            expected["skipped"],
        )
        assert [b["line"] for b in p["bad_rows"]] == expected["bad"]
        assert await s.wait_count(expected["listens"], user="filer") == expected["listens"]
        recent = (await s.client.get("/api/v1/listens/recent", params={"user": "filer", "limit": 1})).json()
        assert recent[0]["source"] == f"import:{fmt}"

        again = await s.client.post(
            "/api/v1/import/file", params={"user": "filer", "format": fmt}, content=body
        )
        p2 = (await wait_job(s, again.json()["job_id"]))["progress"]
        assert (p2["new"], p2["duplicates"]) == (0, expected["listens"])
        assert await s.count(user="filer") == expected["listens"]
        assert not list((tmp_path / "imports").iterdir())  # uploads are removed once imported


async def test_unknown_format_is_a_clear_400(tmp_path: Path, nats_server: EmbeddedNats) -> None:
    async with running_stack(make_settings(tmp_path, nats_server.url)) as s:
        r = await s.client.post("/api/v1/import/file", content=json.dumps({"hello": 1}).encode())
        assert r.status_code == 400
        assert "format" in r.json()["detail"]
        r = await s.client.post("/api/v1/import/file", params={"format": "xml"}, content=b"<x/>")
        assert r.status_code == 400
        assert "xml" in r.json()["detail"]
