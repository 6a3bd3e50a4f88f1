"""A SQLite file written by a process of its own: a replay's shadow, filled beside the fold.

A replay's process folds the next batch on its event loop while the previous one commits. On a
thread, that commit shares the fold's GIL: pysqlite binds every parameter (about 27 a listen)
holding it, so the fold and the writer mostly took turns. In a child process the transaction runs
on the other core: the fold sends each batch's planned rows (msgpack, encoded in C), and the child
renders them into statements and runs the same transaction the thread ran
(:func:`projector.sql_sink.commit_steps`), checkpoint included.

Nothing changes for durability or resumption: each batch is one transaction of the child's
connection, with its checkpoint; the parent counts a batch applied only once the child answers
after the commit. If the parent dies, the child finishes the transaction it is in (or SQLite rolls
it back) and exits at the end of its pipe; a resumed replay reads the checkpoint as before.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

import msgspec
from sqlalchemy import DateTime, Table

from projector import checkpoint, heap
from projector.db import create_writer
from projector.folds.sql_rows import COLUMNS
from projector.sql_sink import INSERTED, Planned, commit_steps

__all__ = ["WriterProcess", "WriterProcessError"]

_CONTEXT = multiprocessing.get_context("spawn")
"""A fresh interpreter: forking a process that runs an event loop and threads is not safe."""
_STOP_WAIT_S = 30.0


class WriterProcessError(RuntimeError):
    """The child's transaction failed (rolled back); the message names the error."""


Request = tuple[str, int, int, Sequence[Any]]
"""(checkpoint name, first and last stream sequence of the batch, the planned steps)."""


def _row_type(table: Table) -> Any:
    """A row of ``table`` as the fold gives it (:data:`~projector.folds.sql_rows.COLUMNS`), typed
    where msgpack needs it: a naive datetime travels as ISO text and stays text, which the child
    turns into SQLite's DATETIME text with a string operation (``Planned.iso_text``) instead of
    parsing it and formatting the datetime again (two a listen)."""
    types: list[Any] = []
    for name in COLUMNS[table.name]:
        column = table.c[name]
        if isinstance(column.type, DateTime):
            types.append(str | None if column.nullable else str)
        else:
            types.append(Any)
    return tuple[tuple(types)]  # type: ignore[misc]


_NAMES = tuple(t.name for t in INSERTED)
_ROWS = msgspec.msgpack.Encoder()
_ROWS_OF = msgspec.msgpack.Decoder(tuple[tuple(list[_row_type(t)] for t in INSERTED)])  # type: ignore[misc]


def _send(pipe: Connection, request: Request | None) -> None:
    """A request: the steps pickled without their rows, then the rows of each write step in
    msgpack (encoded in C; they are the batch's bulk: its listens, and the sets and catalogue
    entries it meets first)."""
    if request is None:
        pipe.send(None)
        return
    name, first, last, steps = request
    # The fold's Writes hold the rows too, and the folding process keeps the catalogue keys.
    bare = [Planned(s.step.without_rows(), {}, {}) if isinstance(s, Planned) else s for s in steps]
    pipe.send((name, first, last, bare))
    for step in steps:
        if isinstance(step, Planned):
            pipe.send_bytes(_ROWS.encode(tuple(step.rows[n] for n in _NAMES)))


def _receive(pipe: Connection) -> Request | None:
    head = pipe.recv()
    if head is None:
        return None
    name, first, last, bare = head
    steps = [
        Planned(
            s.step,
            dict(zip(_NAMES, _ROWS_OF.decode(pipe.recv_bytes()), strict=True)),
            s.catalogue,
            iso_text=True,
        )
        if isinstance(s, Planned)
        else s
        for s in bare
    ]
    return name, first, last, steps


def _serve(pipe: Connection, dsn: str, synced: bool) -> None:
    """The child: apply each batch it is sent in one transaction, answer how it went."""
    # Ctrl-C reaches the whole process group: the parent stops the replay, and the child finishes
    # the transaction it is in and leaves when its pipe closes, instead of dying in the middle.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        engine = create_writer(dsn, bulk=True, synced=synced)
        assert engine is not None, dsn
        with engine.connect() as conn:
            heaps = heap.has_heaps(conn)
    except Exception as exc:  # noqa: BLE001  (the parent raises it)
        pipe.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    pipe.send(("ready", 0))
    try:
        while True:
            try:
                request = _receive(pipe)
            except EOFError:
                return  # the parent is gone
            if request is None:
                return
            name, first, last, steps = request
            try:
                with engine.begin() as conn:
                    done = checkpoint.read(conn, name, for_update=True)
                    if last <= done:
                        answer: tuple[str, Any] = ("applied", 0)
                    elif first <= done:
                        answer = ("stale", done)  # nothing written: the parent re-plans the rest
                    else:
                        heaps = commit_steps(conn, name, steps, last, heaps=heaps)
                        answer = ("applied", 1)
            except Exception as exc:  # noqa: BLE001  (every failure goes back to the parent)
                answer = ("error", f"{type(exc).__name__}: {exc}")
            try:
                pipe.send(answer)
            except (BrokenPipeError, OSError):
                return
    finally:
        engine.dispose()


class WriterProcess:
    """The writer of a SQLite file, in a child process (see the module docstring)."""

    def __init__(self, dsn: str, *, synced: bool) -> None:
        """Start the child and wait until it has opened ``dsn`` (this blocks: from a running event
        loop, call it on a thread); :class:`WriterProcessError` if it could not."""
        self._pipe, child = _CONTEXT.Pipe()
        self._process = _CONTEXT.Process(
            target=_serve, args=(child, dsn, synced), name="sqlite-writer", daemon=True
        )
        self._process.start()
        child.close()
        self._lock = threading.Lock()
        # The child answers once it has opened the database (or says why it could not).
        self._answer()

    def _answer(self) -> tuple[str, int]:
        try:
            answer: tuple[str, Any] = self._pipe.recv()
        except EOFError as exc:
            self._process.join(_STOP_WAIT_S)
            raise WriterProcessError(f"the writer process died (exit code {self._process.exitcode})") from exc
        if answer[0] == "error":
            raise WriterProcessError(str(answer[1]))
        return answer[0], int(answer[1])

    def _call(self, request: Request) -> tuple[str, int]:
        with self._lock:
            _send(self._pipe, request)
            return self._answer()

    async def apply(self, name: str, first: int, last: int, steps: Sequence[Any]) -> tuple[str, int]:
        """Run the batch ``first``..``last`` in one transaction with checkpoint ``name``:
        ``("applied", 1)``, ``("applied", 0)`` when the checkpoint already covers it, or
        ``("stale", position)`` when it covers part of it (nothing written)."""
        return await asyncio.to_thread(self._call, (name, first, last, steps))

    def close(self) -> None:
        """Let the child finish and exit (it holds no transaction between batches)."""
        if self._process.is_alive():
            try:
                with self._lock:
                    _send(self._pipe, None)
            except (BrokenPipeError, OSError):
                pass
            self._process.join(_STOP_WAIT_S)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
        self._pipe.close()
