"""The projector process answers health, readiness and metrics on its HTTP port."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from scrobbler.embedded_nats import EmbeddedNats
from tests.conftest import free_port, make_settings
from tests.integration.replay_support import cli_env

pytestmark = pytest.mark.slow


def _projector(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "scrobbler.cli", "projector"], env=env)


async def test_projector_serves_readyz_and_metrics(tmp_path: Path, nats_server: EmbeddedNats) -> None:
    settings = make_settings(tmp_path, nats_server.url)
    port = free_port()
    env = {**cli_env(settings), "SCROBBLER_HOST": "127.0.0.1", "SCROBBLER_PORT": str(port)}
    proc = _projector(env)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            ready = None
            for _ in range(300):
                try:
                    ready = await client.get("/readyz")
                    if ready.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
            assert ready is not None and ready.status_code == 200
            assert ready.json()["checks"] == {"projection": "ok"}
            assert (await client.get("/healthz")).json()["status"] == "ok"
            assert "scrobbler_projection_position" in (await client.get("/metrics")).text
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
