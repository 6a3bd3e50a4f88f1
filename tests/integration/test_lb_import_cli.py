"""The CLI's import runs the same job in-process; also where the import rate is measured.

``SCROBBLER_LB_IMPORT_SIZE=100000`` makes it an import of 100k listens and prints listens/s.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from click.testing import CliRunner

from projector.service import run_projector
from scrobbler.cli import main
from scrobbler.embedded_nats import EmbeddedNats
from scrobbler.import_cli import run_cli_job
from tests.conftest import Stack, make_settings, running_stack
from tests.fakes.listenbrainz_server import FakeListenBrainz, make_listens, serve_listenbrainz
from tests.integration.lb_support import wait_until, with_remotes

SIZE = int(os.environ.get("SCROBBLER_LB_IMPORT_SIZE", "3000"))


async def test_cli_job_imports_everything_with_progress(tmp_path: Path, nats_server: EmbeddedNats) -> None:
    fake = FakeListenBrainz(listens={"lbuser": make_listens(SIZE, user="lbuser", tags_every=1)})
    async with serve_listenbrainz(fake) as lb_url:
        settings = with_remotes(make_settings(tmp_path, nats_server.url), lb_url)
        async with running_stack(settings, projector=False) as s:
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
            # The SQL projector starts now, so the import rate above is the job's alone.
            stop = asyncio.Event()
            s.stops.append(stop)
            s.tasks.append(asyncio.create_task(run_projector(settings, nats_server.url, stop)))
            projecting = time.perf_counter()
            assert await s.wait_count(SIZE, timeout=max(30.0, SIZE / 500)) == SIZE
            took = time.perf_counter() - projecting
            print(
                f"projection of {SIZE} imported listens into SQL: {SIZE / took:.0f} listens/s ({took:.1f} s)"
            )
            await wait_until(lambda: _done(s, ctx.job_id))


async def _done(s: Stack, job_id: str) -> bool:
    r = await s.client.get(f"/api/v1/jobs/{job_id}")
    return r.status_code == 200 and r.json()["status"] == "done"


def test_cli_commands_are_registered() -> None:
    result = CliRunner().invoke(main, ["import", "--help"])
    assert result.exit_code == 0
    assert "listenbrainz" in result.output
    assert "file" in result.output
    result = CliRunner().invoke(main, ["export", "listenbrainz", "--help"])
    assert result.exit_code == 0
    assert "--batch-size" in result.output
