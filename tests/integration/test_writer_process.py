"""The writer process of a replay's SQLite shadow (projector.writer_process): batches it has
already applied, errors in its transaction, and its parent killed with kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from projector import checkpoint, heap
from projector.db import create_engine as create_async
from projector.sql_sink import SqlSink
from projector.tables import listens, metadata
from projector.writer_process import WriterProcess, WriterProcessError
from schemas.events import Event
from tests.integration.replay_support import listens_for


def _numbered(start: int, n: int) -> list[tuple[int, Event]]:
    return [(start + i, ev) for i, ev in enumerate(listens_for(start, n))]


@pytest.fixture
async def shadow(tmp_path: Path) -> AsyncIterator[tuple[str, SqlSink]]:
    path = tmp_path / "shadow.db"
    sync = create_engine(f"sqlite:///{path}")
    metadata.create_all(sync)
    with sync.begin() as conn:
        heap.make_heaps(conn)
    sync.dispose()
    dsn = f"sqlite+aiosqlite:///{path}"
    engine = create_async(dsn)
    writer = WriterProcess(dsn, synced=True)
    try:
        yield str(path), SqlSink(engine, "sql-replay", remote=writer)
    finally:
        writer.close()
        await engine.dispose()


def _stored(path: str) -> tuple[int, int]:
    """(rows in the listens heap, the checkpoint)."""
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(listens)).scalar_one()), checkpoint.read(
                conn, "sql-replay"
            )
    finally:
        engine.dispose()


async def test_a_batch_the_checkpoint_covers_is_applied_once(shadow: tuple[str, SqlSink]) -> None:
    path, sink = shadow
    first = _numbered(1, 100)
    assert await sink.apply(first, sink.prepare(first)) == 100
    # Half of this batch is already applied: only the rest goes in (heaps keep every copy, so a
    # second copy of a listen would show in the count).
    overlapping = _numbered(51, 100)
    assert await sink.apply(overlapping, sink.prepare(overlapping)) == 50
    assert await sink.apply(first, sink.prepare(first)) == 0
    assert _stored(path) == (150, 150)


def test_a_database_it_cannot_open_is_reported_at_start(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(WriterProcessError, match="OperationalError"):
        WriterProcess(f"sqlite+aiosqlite:///{tmp_path / 'dir.db'}", synced=True)


async def test_a_failed_transaction_is_reported_and_writes_nothing(shadow: tuple[str, SqlSink]) -> None:
    path, sink = shadow
    batch = _numbered(1, 10)
    assert await sink.apply(batch, sink.prepare(batch)) == 10
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        # The catalogue's and the sets' rows go in first, then the listens fail.
        conn.exec_driver_sql(
            "CREATE TRIGGER refuse BEFORE INSERT ON listens BEGIN SELECT RAISE(ABORT, 'refused here'); END"
        )
    engine.dispose()
    more = _numbered(11, 10)
    with pytest.raises(WriterProcessError, match="refused here"):
        await sink.apply(more, sink.prepare(more))
    assert _stored(path) == (10, 10)


_ORPHAN = """
import sys, time
from projector.writer_process import WriterProcess
writer = WriterProcess(sys.argv[1], synced=True)
print(writer._process.pid, flush=True)
time.sleep(600)
"""


def test_the_writer_exits_when_its_parent_is_killed(tmp_path: Path) -> None:
    dsn = f"sqlite+aiosqlite:///{tmp_path / 'shadow.db'}"
    parent = subprocess.Popen([sys.executable, "-c", _ORPHAN, dsn], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 20
        while _alive(child):
            assert time.monotonic() < deadline, "the writer process outlived its parent"
            time.sleep(0.05)
    finally:
        if parent.poll() is None:
            parent.kill()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by init) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


_INTERRUPTED = """
import sys, time
from projector.writer_process import WriterProcess
writer = WriterProcess(sys.argv[1], synced=True)  # returns once the child is ready
try:
    # Inside the try: the test interrupts as soon as it reads the pid.
    print(writer._process.pid, flush=True)
    time.sleep(600)
except KeyboardInterrupt:
    writer.close()
"""


def test_ctrl_c_stops_the_parent_and_the_writer_leaves_quietly(tmp_path: Path) -> None:
    """Ctrl-C reaches the whole process group; only the parent handles it, and the writer leaves
    when its pipe closes, without a traceback of its own."""
    dsn = f"sqlite+aiosqlite:///{tmp_path / 'shadow.db'}"
    parent = subprocess.Popen(
        [sys.executable, "-c", _INTERRUPTED, dsn],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        os.killpg(parent.pid, signal.SIGINT)
        _, err = parent.communicate(timeout=30)
        assert parent.returncode == 0
        assert "Traceback" not in err
        assert not _alive(child)
    finally:
        if parent.poll() is None:
            parent.kill()
