"""Processes under test: our servers and the hello-world ceiling, each its own process on a free port."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

__all__ = ["RssSampler", "Server", "free_port", "run_loadgen", "scrobbler_env", "spawn", "wait_http"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrobbler_env(
    data_dir: Path, nats_url: str, *, port: int = 0, stream: str = "SCROBBLES", dsn: str | None = None
) -> dict[str, str]:
    """The environment of a ``scrobbler`` process of the benchmark (quiet logs, loopback only)."""
    env = {
        **os.environ,
        "SCROBBLER_DATA_DIR": str(data_dir),
        "SCROBBLER_NATS_URL": nats_url,
        "SCROBBLER_NATS_STREAM": stream,
        "SCROBBLER_HOST": "127.0.0.1",
        "SCROBBLER_PORT": str(port),
        "SCROBBLER_LOG_LEVEL": "WARNING",
        "SCROBBLER_LOG_FORMAT": "json",
    }
    if dsn:
        env["SCROBBLER_DB_DSN"] = dsn
    return env


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def wait_http(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 60.0) -> None:
    """Wait until ``url`` answers 200 (the process must stay alive meanwhile)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


@contextlib.contextmanager
def spawn(
    args: list[str], env: dict[str, str], log: Path, *, port: int = 0, ready: str | None = None
) -> Iterator[Server]:
    """Run ``args`` as a child (stopped on exit), waiting for ``ready`` (a path) to answer 200."""
    with log.open("ab") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(proc=proc, port=port, log=log)
    try:
        if ready is not None:
            wait_http(server.url + ready, proc)
        yield server
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def scrobbler(*args: str) -> list[str]:
    return [sys.executable, "-m", "scrobbler.cli", *args]


def run_loadgen(
    out: Path,
    *,
    port: int,
    path: str,
    bodies: Path | None = None,
    connections: int = 64,
    duration: float = 10.0,
    warmup: float = 1.0,
    rate: float = 0.0,
    cycle: bool = False,
    headers: list[str] | None = None,
    max_requests: int = 0,
) -> dict[str, float]:
    """Run the load generator as its own process and return its result."""
    import msgspec

    args = [
        sys.executable,
        "-m",
        "bench.loadgen",
        "--port",
        str(port),
        "--path",
        path,
        "--connections",
        str(connections),
        "--duration",
        str(duration),
        "--warmup",
        str(warmup),
        "--out",
        str(out),
    ]
    if bodies is not None:
        args += ["--bodies", str(bodies)]
    if rate:
        args += ["--rate", str(rate)]
    if cycle:
        args.append("--cycle")
    if max_requests:
        args += ["--max-requests", str(max_requests)]
    for h in headers or []:
        args += ["--header", h]
    subprocess.run(args, check=True, timeout=duration + warmup + 300)
    result: dict[str, float] = msgspec.json.decode(out.read_bytes())
    return result


@dataclass
class RssSampler:
    """Samples the resident memory of named processes every ``interval`` seconds in a thread."""

    pids: dict[str, int]
    interval: float = 0.25
    samples: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        procs = {name: psutil.Process(pid) for name, pid in self.pids.items()}
        started = time.monotonic()

        def sample(name: str, p: psutil.Process) -> None:
            with contextlib.suppress(psutil.Error):
                self.samples.setdefault(name, []).append((time.monotonic() - started, p.memory_info().rss))

        def loop() -> None:
            while not self._stop.is_set():
                for name, p in procs.items():
                    sample(name, p)
                    # A process's own children (a replay's cube and SQLite writer) count apart.
                    with contextlib.suppress(psutil.Error):
                        for child in p.children(recursive=True):
                            sample(f"{name} child {child.pid}", child)
                self._stop.wait(self.interval)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def summary(self) -> dict[str, dict[str, float]]:
        """Per process: peak RSS, RSS at a quarter and at the end of the run (MB), and the growth."""
        out: dict[str, dict[str, float]] = {}
        for name, s in self.samples.items():
            if not s:
                continue
            rss = [r for _, r in s if r > 0]  # an exited child reads as 0
            if not rss:
                continue
            quarter = rss[len(rss) // 4]
            out[name] = {
                "peak_mb": max(rss) / 2**20,
                "quarter_mb": quarter / 2**20,
                "end_mb": rss[-1] / 2**20,
                "growth": (rss[-1] - quarter) / quarter if quarter else 0.0,
            }
        return out
