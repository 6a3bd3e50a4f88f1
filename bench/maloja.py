"""The peer: Maloja (``malojaserver`` from PyPI) in its own venv under ``bench/.maloja-venv``, run headless.

Its data dir is a temp dir with an API key written before start; metadata providers and image
proxying are off so it never reaches the network. Listens go in through its native API
(``POST /apis/mlj_1/newscrobble``), one per request; the chart timed is its top artists
(``GET /apis/mlj_1/charts/artists`` with an explicit ``since`` so old listens count).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bench.servers import free_port, wait_http

__all__ = ["MALOJA_VERSION", "VENV", "Maloja", "ensure_venv", "running"]

MALOJA_VERSION = "3.2.3"
"""The newest release that runs on Python 3.11 (3.2.4+ require exactly 3.12)."""
VENV = Path(__file__).parent / ".maloja-venv"
API_KEY = "benchkey0123456789abcdef0123456789abcdef0123456789abcdef01234567"


def ensure_venv(python: str = "python3") -> Path:
    """Create the venv and install Maloja into it once; returns its ``maloja`` executable."""
    exe = VENV / "bin" / "maloja"
    if not exe.exists():
        subprocess.run([python, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(VENV / "bin" / "pip"), "install", "--quiet", f"malojaserver=={MALOJA_VERSION}"], check=True
        )
    return exe


class Maloja:
    def __init__(self, url: str, data: Path) -> None:
        self.url = url
        self.data = data
        self.client = httpx.Client(base_url=url, timeout=120)

    def scrobble(self, body: dict[str, Any]) -> None:
        r = self.client.post("/apis/mlj_1/newscrobble", json={**body, "key": API_KEY})
        if r.status_code == 409:
            return  # Maloja keys scrobbles by second: another user's listen at that second (answered)
        r.raise_for_status()

    def top_artists(self) -> list[Any]:
        r = self.client.get("/apis/mlj_1/charts/artists", params={"since": "2000/01/01", "to": "2030/12/31"})
        r.raise_for_status()
        return list(r.json()["list"])

    def count(self) -> int:
        r = self.client.get("/apis/mlj_1/numscrobbles", params={"since": "2000/01/01", "to": "2030/12/31"})
        r.raise_for_status()
        return int(r.json()["amount"])


def native_body(seed: dict[str, Any]) -> dict[str, Any]:
    """A seed JSON scrobble as a Maloja ``newscrobble`` body."""
    return {
        "artists": [a["name"] for a in seed["artists"]],
        "title": seed["track"]["title"],
        "album": seed["track"].get("album"),
        "length": seed.get("duration_secs"),
        "time": seed["listened_at"],
    }


def env_for(data: Path, port: int) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("MALOJA_")},
        "MALOJA_DATA_DIRECTORY": str(data),
        "MALOJA_HOST": "127.0.0.1",
        "MALOJA_PORT": str(port),
        "MALOJA_SKIP_SETUP": "yes",
        "MALOJA_FORCE_PASSWORD": "benchmark",
        "MALOJA_METADATA_PROVIDERS": "[]",
        "MALOJA_PROXY_IMAGES": "no",
        "MALOJA_LOGGING": "no",
        "MALOJA_TIMEZONE": "0",
    }


def import_file(data: Path, lb_entries: list[dict[str, Any]]) -> float:
    """``maloja import`` of a ListenBrainz export (server stopped); returns seconds."""
    path = data / "bench_lb-2025-01-01.json"
    path.write_text(json.dumps(lb_entries))
    started = time.perf_counter()
    subprocess.run(
        [str(ensure_venv()), "import", str(path)],
        env=env_for(data, 0),
        check=True,
        capture_output=True,
        timeout=3600,
    )
    return time.perf_counter() - started


@contextlib.contextmanager
def running(data: Path) -> Iterator[Maloja]:
    """Maloja serving ``data`` on a free loopback port (stopped on exit)."""
    exe = ensure_venv()
    data.mkdir(parents=True, exist_ok=True)
    (data / "apikeys.yml").write_text(f"bench: {API_KEY}\n")
    port = free_port()
    log = (data / "maloja-bench.log").open("ab")
    proc = subprocess.Popen([str(exe), "run"], env=env_for(data, port), stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/apis/mlj_1/serverinfo", proc, timeout=120)
        yield Maloja(f"http://127.0.0.1:{port}", data)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def push(m: Maloja, bodies: list[dict[str, Any]], concurrency: int) -> float:
    """Scrobble every body (``concurrency`` clients at once); returns listens per second."""
    started = time.perf_counter()
    if concurrency == 1:
        for b in bodies:
            m.scrobble(b)
    else:
        with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(m.scrobble, bodies))
    return len(bodies) / (time.perf_counter() - started)


def cleanup(data: Path) -> None:
    shutil.rmtree(data, ignore_errors=True)
