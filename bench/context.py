"""What every scenario shares in one run: the size, the generated listens and their encodings."""

from __future__ import annotations

import contextlib
import functools
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from bench.generate import (
    Catalogue,
    ListenColumns,
    build_catalogue,
    generate,
    iter_events,
    lb_payload,
    seed_bodies,
)
from schemas.events import encode_event
from schemas.subjects import user_subject
from scrobbler.embedded_nats import EmbeddedNats, start_embedded

__all__ = ["SYNC_INTERVAL", "Context", "EncodedEvents"]

SYNC_INTERVAL = "1s"
"""JetStream fsync policy of every server in the benchmark: the product's default (ack before fsync)."""


@dataclass(frozen=True)
class EncodedEvents:
    """Events ready to publish: subject, ``Nats-Msg-Id`` and wire bytes, row by row."""

    subjects: list[str]
    ids: list[str]
    payloads: list[bytes]


@dataclass
class Context:
    n: int
    """Listens in the data set of this run (project, cube, replay, query)."""
    quick: bool
    workdir: Path
    seed: int
    log: list[str] = field(default_factory=list)
    rss: dict[str, Any] = field(default_factory=dict)
    rows: dict[str, Any] = field(default_factory=dict)
    """Rows measured so far in this run (the memory and peer rows read them)."""
    """RSS summaries per scenario, for the memory row."""

    @functools.cached_property
    def catalogue(self) -> Catalogue:
        return build_catalogue(self.seed)

    @functools.cached_property
    def columns(self) -> ListenColumns:
        return generate(self.n, self.seed, self.catalogue)

    def say(self, message: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {message}"
        self.log.append(line)
        print(line, flush=True)

    @functools.cached_property
    def events(self) -> EncodedEvents:
        """Every listen of the run as an encoded ListenRecorded (built once, reused by scenarios)."""
        started = time.perf_counter()
        subjects: list[str] = []
        ids: list[str] = []
        payloads: list[bytes] = []
        subject_of: dict[str, str] = {}
        for ev in iter_events(self.catalogue, self.columns):
            subject = subject_of.get(ev.user)
            if subject is None:
                subject = subject_of[ev.user] = user_subject("scrobbles", ev.user)
            subjects.append(subject)
            ids.append(ev.event_id)
            payloads.append(encode_event(ev))
        self.say(f"built {len(payloads):,} events in {time.perf_counter() - started:.1f}s")
        return EncodedEvents(subjects=subjects, ids=ids, payloads=payloads)

    def bodies_file(self, name: str, *, start: int, stop: int, batch: int = 1, lb: bool = False) -> Path:
        """A file of request bodies, one per line: single seed scrobbles, arrays, or LB payloads."""
        path = self.workdir / f"{name}.ndjson"
        enc = msgspec.json.Encoder()
        with path.open("wb") as f:
            for lo in range(start, stop, batch):
                hi = min(stop, lo + batch)
                body: Any
                if lb:
                    body = {
                        "listen_type": "import",
                        "payload": lb_payload(self.catalogue, self.columns, lo, hi),
                    }
                elif batch == 1:
                    body = next(seed_bodies(self.catalogue, self.columns, lo, hi))
                else:
                    body = list(seed_bodies(self.catalogue, self.columns, lo, hi))
                f.write(enc.encode(body) + b"\n")
        return path

    @contextlib.contextmanager
    def nats(self, name: str) -> Iterator[EmbeddedNats]:
        """A fresh embedded nats-server (its own store) for one scenario."""
        store = self.workdir / f"nats-{name}"
        server = start_embedded(store, sync_interval=SYNC_INTERVAL)
        try:
            yield server
        finally:
            server.stop()
            shutil.rmtree(store, ignore_errors=True)

    def scratch(self, name: str) -> Path:
        path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.workdir))
        return path
