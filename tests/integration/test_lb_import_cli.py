"""The CLI's import runs the same job in-process; also where the import rate is measured.

``SCROBBLER_LB_IMPORT_SIZE=100000`` makes it an import of 100k listens and prints listens/s.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from click.testing import CliRunner

from scrobbler.cli import main
from scrobbler.embedded_nats import EmbeddedNats
from scrobbler.import_cli import run_cli_job
from tests.conftest import make_settings, running_stack
from tests.fakes.listenbrainz_server import FakeListenBrainz, make_listens, serve_listenbrainz
from tests.integration.lb_support import with_remotes

SIZE = int(os.environ.get("SCROBBLER_LB_IMPORT_SIZE", "3000"))


async def test_cli_job_imports_everything_with_progress(tmp_path: Path, nats_server: EmbeddedNats) -> None:
    fake = FakeListenBrainz(listens={"lbuser": make_listens(SIZE, user="lbuser", tags_every=1)})
    async with serve_listenbrainz(fake) as lb_url:
        settings = with_remotes(make_settings(tmp_path, nats_server.url), lb_url)
        async with running_stack(settings) as s:
            # The projector is up (and has migrated the schema) once it shows a listen.
            first = {
                "user": "cli",
                "listened_at": 1_500_000_000,
                "track": {"title": "t"},
                "artists": [{"name": "a"}],
            }
            assert (await s.client.post("/api/v1/scrobble", json=first)).status_code == 202
            assert await s.wait_count(1) == 1
            seen: list[int] = []
            started = time.perf_counter()
            ctx = await run_cli_job(
                settings,
                nats_server.url,
                "import-listenbrainz",
                {"lb_user": "lbuser", "page_size": 1000, "local_user": "cli"},
                enrich=False,
                on_progress=lambda c: seen.append(c.progress.seen),
            )
            elapsed = time.perf_counter() - started
            assert ctx.status == "done", ctx.error
            assert (ctx.progress.new, ctx.progress.duplicates, ctx.progress.errors) == (SIZE, 0, 0)
            assert seen[-1] == SIZE
            assert seen == sorted(seen)
            print(
                f"\nimport of {SIZE} listens: {SIZE / elapsed:.0f} listens/s ({elapsed:.1f} s, to stream ack)"
            )
            assert await s.wait_count(SIZE + 1, timeout=max(30.0, SIZE / 1000)) == SIZE + 1
            total = time.perf_counter() - started
            print(f"import of {SIZE} listens: {SIZE / total:.0f} listens/s into SQL ({total:.1f} s)")
            job = (await s.client.get(f"/api/v1/jobs/{ctx.job_id}")).json()
            assert job["status"] == "done"


def test_cli_commands_are_registered() -> None:
    result = CliRunner().invoke(main, ["import", "--help"])
    assert result.exit_code == 0
    assert "listenbrainz" in result.output
    assert "file" in result.output
    result = CliRunner().invoke(main, ["export", "listenbrainz", "--help"])
    assert result.exit_code == 0
    assert "--batch-size" in result.output
