"""The cube inside the query API: open the DuckDB file, keep it current from the stream, serve reads,
and swap in a cube rebuilt by ``scrobbler replay --cube`` without a restart.

The durable consumer is ``cube-<replica id>``, the id stored in the cube file itself: every
query-API replica (each with its own file) has its own consumer, and a deleted cube gets a new
id, so a new consumer that starts from the first event and rebuilds it.

DuckDB lets one process hold a file, so the replay builds ``<cube>.replay`` beside the live cube and
then asks this process (a NATS request on :func:`swap_subject`) to take it: the query API opens the
new file, folds it up to where the live one is, then, with reads held for the few milliseconds it
takes, closes both, renames the new file over the old one, reopens it and goes on from its checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import msgspec
import nats.errors
import structlog
from litestar import Litestar
from nats.aio.msg import Msg
from nats.js.errors import NotFoundError

from projector.folds.cube_rows import CubeEvent
from projector.runner import PoisonEvent, Projection
from query_api.cube.live import Change, LiveHub
from query_api.cube.schema import open_cube, put_in_place, replay_path
from query_api.cube.sink import ApplyResult, CubeSink
from query_api.state import QueryState
from schemas.subjects import stream_subjects
from scrobbler.errors import Unavailable
from scrobbler.settings import Settings
from scrobbler.stream import StreamClient

__all__ = ["Cube", "SwapAnswer", "cube_extension", "get_cube", "swap_subject"]

log = structlog.get_logger(__name__)
T = TypeVar("T")

BATCH_SIZE = 20_000
"""Events per cube transaction at most (fewer when fewer are waiting): each costs a dozen DuckDB
statements whatever its size, which 5,000-event batches felt (projection at 1M: +15%)."""
ANSWERS_KEPT = 512
"""Answers remembered per cube position (results are small: top lists, timelines)."""


def swap_subject(settings: Settings) -> str:
    """The NATS subject on which the query API holding ``settings.db.duckdb_path`` takes a rebuilt cube."""
    key = hashlib.blake2b(str(settings.db.duckdb_path.resolve()).encode(), digest_size=8).hexdigest()
    return f"{settings.nats.subject_prefix}.ctl.cube-swap.{key}"


class SwapAnswer(msgspec.Struct, omit_defaults=True):
    """The query API's reply to a swap request."""

    position: int = 0
    replica_id: str = ""
    error: str = ""


@dataclass
class _Open:
    """One open cube file and the projection that feeds it (created once the stream is reachable)."""

    con: duckdb.DuckDBPyConnection
    replica_id: str
    sink: CubeSink
    checkpoint: int = 0
    """The file's position when opened (until its projection runs)."""
    projection: Projection[CubeEvent] | None = None
    running: asyncio.Event = field(default_factory=asyncio.Event)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    @property
    def position(self) -> int:
        return self.projection.position if self.projection is not None else self.checkpoint

    def start(self, stream: StreamClient, settings: Settings) -> None:
        async def run() -> None:
            # A file from before the rollups (or left with a long tail) folds before it follows on.
            await self.sink.run(self.sink.fold_if_due)
            await stream.wait_ready()
            assert stream.js is not None
            self.projection = Projection(
                js=stream.js,
                stream=settings.nats.stream,
                sink=self.sink,
                filter_subjects=stream_subjects(settings.nats.subject_prefix),
                batch_size=BATCH_SIZE,
            )
            self.sink.backlog = self._backlog
            self.running.set()
            try:
                await self.projection.run(self.stop)
            except PoisonEvent:
                log.exception("cube projection stopped", consumer=self.sink.name)

        self.task = asyncio.create_task(run(), name=f"cube-projection-{self.replica_id}")

    def _backlog(self) -> int:
        return self.projection.backlog if self.projection is not None else 0

    async def wait_for(self, seq: int, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            await self.running.wait()
        assert self.projection is not None
        await self.projection.wait_for(seq, timeout)

    async def halt(self) -> None:
        """Stop the projection (the batch in hand is committed first)."""
        self.stop.set()
        if self.task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self.task, 30)

    async def close(self) -> None:
        await self.halt()
        self.sink.close()
        await asyncio.to_thread(self.con.close)


@dataclass
class Cube:
    """The cube file this replica owns: reads, the projection feeding it, the live hub, swaps."""

    path: Path
    settings: Settings
    stream: StreamClient
    hub: LiveHub = field(default_factory=LiveHub)
    _open: _Open | None = None
    _answers: OrderedDict[tuple[Any, ...], asyncio.Future[Any]] = field(default_factory=OrderedDict)
    _readable: asyncio.Event = field(default_factory=asyncio.Event)
    """Cleared while the file is being swapped: new reads wait, running ones finish first."""
    _reading: int = 0
    _reading_lock: threading.Lock = field(default_factory=threading.Lock)
    _swap_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def _current(self) -> _Open:
        if self._open is None:
            raise Unavailable("the stats cube is not open")
        return self._open

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        return self._current.con

    @property
    def replica_id(self) -> str:
        return self._current.replica_id

    @property
    def sink(self) -> CubeSink:
        return self._current.sink

    @property
    def consumer(self) -> str:
        return self._current.sink.name

    @property
    def projection(self) -> Projection[CubeEvent] | None:
        return self._open.projection if self._open is not None else None

    @property
    def position(self) -> int:
        return self._open.position if self._open is not None else 0

    @property
    def updated_at(self) -> datetime | None:
        """When this process last committed a batch to the cube (None before its first)."""
        return self._open.sink.last_applied_at if self._open is not None else None

    async def _open_file(self, path: Path, *, live: bool) -> _Open:
        """Open ``path`` and start its projection; ``live`` ones tell the hub of their changes."""
        con, replica_id = await asyncio.to_thread(
            open_cube, path, memory_limit=self.settings.db.cube_memory_limit
        )
        on_change: Callable[[ApplyResult], None] | None = None
        if live:
            loop = asyncio.get_running_loop()

            def on_change(result: ApplyResult) -> None:
                loop.call_soon_threadsafe(
                    self.hub.publish, Change(result.position, result.added, result.removed)
                )

        opened = _Open(
            con=con,
            replica_id=replica_id,
            sink=CubeSink(con, f"cube-{replica_id}", on_change=on_change, background_fold=live),
        )
        opened.start(self.stream, self.settings)
        return opened

    async def start(self) -> None:
        """Open the cube file (now: a locked file fails start-up) and start following the stream."""
        self._open = await self._open_file(self.path, live=True)
        self._readable.set()
        log.info("cube opened", path=str(self.path), consumer=self.consumer)

    async def close(self) -> None:
        self._readable.clear()
        await self._drain_reads()
        if self._open is not None:
            await self._open.close()
            self._open = None

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(cursor, ...)`` on a worker thread with its own cursor (DuckDB reads are synchronous).

        Answers are shared per cube position: identical questions asked while nothing new was
        applied (a dashboard opened by several people, a refresh) run once, in flight or done.
        The key holds the position, so a new batch makes every later question run afresh.
        """
        if not self._readable.is_set():
            async with asyncio.timeout(30):
                await self._readable.wait()
        # Only module-level query functions are shared: a closure's captured values are not in the key.
        cacheable = "<locals>" not in fn.__qualname__
        key = (fn.__module__, fn.__qualname__, repr(args), repr(sorted(kwargs.items())), self.position)
        shared = self._answers.get(key) if cacheable else None
        if shared is not None:
            self._answers.move_to_end(key)
            return await asyncio.shield(shared)

        con = self.con
        with self._reading_lock:
            self._reading += 1

        def run() -> T:
            try:
                cur = con.cursor()
                try:
                    # One snapshot for every statement of the answer (rollups, tail and names agree).
                    cur.execute("BEGIN TRANSACTION")
                    try:
                        return fn(cur, *args, **kwargs)
                    finally:
                        cur.execute("ROLLBACK")
                finally:
                    cur.close()
            finally:
                with self._reading_lock:
                    self._reading -= 1

        answer: asyncio.Future[T] = asyncio.ensure_future(asyncio.to_thread(run))
        if not cacheable:
            return await answer
        self._answers[key] = answer
        while len(self._answers) > ANSWERS_KEPT:
            self._answers.popitem(last=False)
        try:
            return await asyncio.shield(answer)
        except BaseException:
            if self._answers.get(key) is answer:
                del self._answers[key]
            raise

    async def _drain_reads(self) -> None:
        """Wait until no read holds a cursor on the open file (reads run on threads, so poll)."""
        while True:
            with self._reading_lock:
                if self._reading == 0:
                    return
            await asyncio.sleep(0.002)

    async def wait_for(self, seq: int, timeout: float = 10.0) -> None:
        """Return once the cube has applied stream sequence ``seq`` (across a swap too)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.projection is None:
                raise Unavailable("the stats cube is not running")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"the stats cube did not reach {seq}")
            with contextlib.suppress(TimeoutError):
                await self.projection.wait_for(seq, min(left, 0.5))
                return

    async def _stream_tail(self) -> int:
        assert self.stream.js is not None
        info = await self.stream.js.stream_info(self.settings.nats.stream)
        return int(info.state.last_seq or 0)

    async def swap_in(self) -> SwapAnswer:
        """Take the file ``scrobbler replay --cube`` built beside this cube: fold it up to the live
        cube's position, then switch with reads held; the old file's consumer is deleted."""
        async with self._swap_lock:
            new_path = replay_path(self.path)
            if not await asyncio.to_thread(new_path.exists):
                return SwapAnswer(error=f"{new_path} does not exist")
            old = self._current
            new = await self._open_file(new_path, live=False)
            try:
                # Fold the new file up to the stream's tail while the old cube still serves, then
                # hold reads, stop the old projection and close the last gap (a batch or two).
                await new.wait_for(await self._stream_tail(), 60)
                self._readable.clear()
                await old.halt()
                await new.wait_for(min(old.position, await self._stream_tail()), 60)
                await new.halt()
                await asyncio.to_thread(new.con.execute, "CHECKPOINT")
            except BaseException:
                await new.close()
                self._readable.set()
                raise
            held = time.monotonic()
            try:
                await self._drain_reads()
                await new.close()
                await old.close()
                await asyncio.to_thread(put_in_place, new_path, self.path)
                self._answers.clear()
                self._open = await self._open_file(self.path, live=True)
            finally:
                self._readable.set()
            position = self.position
            log.info(
                "cube swapped in",
                path=str(self.path),
                consumer=self.consumer,
                position=position,
                reads_held_ms=round((time.monotonic() - held) * 1000, 1),
            )
            self.hub.publish(Change(position, 0, 0))
            assert self.stream.js is not None
            with contextlib.suppress(NotFoundError, nats.errors.Error, TimeoutError):
                await self.stream.js.delete_consumer(self.settings.nats.stream, old.sink.name)
            return SwapAnswer(position=position, replica_id=self.replica_id)


def get_cube(state: QueryState) -> Cube:
    cube = state.extras.get("cube")
    if not isinstance(cube, Cube):
        raise Unavailable("the stats cube is not open")
    return cube


_ANSWER = msgspec.json.Encoder()


def cube_extension(
    settings: Settings,
) -> Callable[[Litestar, QueryState], contextlib.AbstractAsyncContextManager[None]]:
    """The query-API extension that owns the cube (see :data:`scrobbler.app.Extension`)."""

    @contextlib.asynccontextmanager
    async def extension(app: Litestar, state: QueryState) -> AsyncIterator[None]:
        cube = Cube(path=settings.db.duckdb_path, settings=settings, stream=state.stream)
        await cube.start()
        state.extras["cube"] = cube

        async def on_swap(msg: Msg) -> None:
            try:
                answer = await cube.swap_in()
            except Exception as exc:  # the replay process prints it; this replica keeps serving
                log.exception("cube swap failed")
                answer = SwapAnswer(error=f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(nats.errors.Error):
                await msg.respond(_ANSWER.encode(answer))

        async def listen() -> Any:
            await state.stream.wait_ready()
            assert state.stream.nc is not None
            return await state.stream.nc.subscribe(swap_subject(settings), cb=on_swap)

        subscribing = asyncio.create_task(listen(), name="cube-swap-listener")
        try:
            yield
        finally:
            subscribing.cancel()
            with contextlib.suppress(asyncio.CancelledError, nats.errors.Error):
                sub = await subscribing
                await sub.unsubscribe()
            state.extras.pop("cube", None)
            await cube.close()

    return extension
