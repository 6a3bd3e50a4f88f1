"""The cube inside the query API: open the DuckDB file, keep it current from the stream, serve reads.

The durable consumer is ``cube-<replica id>``, the id stored in the cube file itself: every
query-API replica (each with its own file) has its own consumer, and a deleted cube gets a new
id, so a new consumer that starts from the first event and rebuilds it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import duckdb
import structlog
from litestar import Litestar

from projector.runner import PoisonEvent, Projection
from query_api.cube.live import Change, LiveHub
from query_api.cube.schema import open_cube
from query_api.cube.sink import ApplyResult, CubeSink
from query_api.state import QueryState
from schemas.subjects import stream_subjects
from scrobbler.errors import Unavailable
from scrobbler.settings import Settings

__all__ = ["Cube", "cube_extension"]

log = structlog.get_logger(__name__)
T = TypeVar("T")

BATCH_SIZE = 5000
ANSWERS_KEPT = 512
"""Answers remembered per cube position (results are small: top lists, timelines)."""


@dataclass
class Cube:
    """The open cube: its connection, its sink, the projection feeding it, and the live hub."""

    con: duckdb.DuckDBPyConnection
    replica_id: str
    sink: CubeSink
    hub: LiveHub = field(default_factory=LiveHub)
    projection: Projection | None = None
    task: asyncio.Task[None] | None = None

    @property
    def consumer(self) -> str:
        return self.sink.name

    @property
    def position(self) -> int:
        return self.projection.position if self.projection else 0

    _answers: OrderedDict[tuple[Any, ...], asyncio.Future[Any]] = field(default_factory=OrderedDict)

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(cursor, ...)`` on a worker thread with its own cursor (DuckDB reads are synchronous).

        Answers are shared per cube position: identical questions asked while nothing new was
        applied (a dashboard opened by several people, a refresh) run once, in flight or done.
        The key holds the position, so a new batch makes every later question run afresh.
        """
        # Only module-level query functions are shared: a closure's captured values are not in the key.
        cacheable = "<locals>" not in fn.__qualname__
        key = (fn.__module__, fn.__qualname__, repr(args), repr(sorted(kwargs.items())), self.position)
        shared = self._answers.get(key) if cacheable else None
        if shared is not None:
            self._answers.move_to_end(key)
            return await asyncio.shield(shared)

        def run() -> T:
            cur = self.con.cursor()
            try:
                return fn(cur, *args, **kwargs)
            finally:
                cur.close()

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

    async def wait_for(self, seq: int, timeout: float = 10.0) -> None:
        """Return once the cube has applied stream sequence ``seq``."""
        if self.projection is None:
            raise Unavailable("the stats cube is not running")
        await self.projection.wait_for(seq, timeout)


def get_cube(state: QueryState) -> Cube:
    cube = state.extras.get("cube")
    if not isinstance(cube, Cube):
        raise Unavailable("the stats cube is not open")
    return cube


def cube_extension(
    settings: Settings,
) -> Callable[[Litestar, QueryState], contextlib.AbstractAsyncContextManager[None]]:
    """The query-API extension that owns the cube (see :data:`scrobbler.app.Extension`)."""

    @contextlib.asynccontextmanager
    async def extension(app: Litestar, state: QueryState) -> AsyncIterator[None]:
        con, replica_id = await asyncio.to_thread(open_cube, settings.db.duckdb_path)
        hub = LiveHub()
        loop = asyncio.get_running_loop()

        def changed(result: ApplyResult) -> None:
            loop.call_soon_threadsafe(hub.publish, Change(result.position, result.added, result.removed))

        sink = CubeSink(con, f"cube-{replica_id}", on_change=changed)
        cube = Cube(con=con, replica_id=replica_id, sink=sink, hub=hub)
        state.extras["cube"] = cube
        stop = asyncio.Event()

        async def project() -> None:
            await state.stream.wait_ready()
            assert state.stream.js is not None
            cube.projection = Projection(
                js=state.stream.js,
                stream=settings.nats.stream,
                sink=sink,
                filter_subjects=stream_subjects(settings.nats.subject_prefix),
                batch_size=BATCH_SIZE,
            )
            try:
                await cube.projection.run(stop)
            except PoisonEvent:
                log.exception("cube projection stopped", consumer=sink.name)

        cube.task = asyncio.create_task(project(), name="cube-projection")
        log.info("cube opened", path=str(settings.db.duckdb_path), consumer=sink.name)
        try:
            yield
        finally:
            stop.set()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(cube.task, 10)
            state.extras.pop("cube", None)
            sink.close()
            await asyncio.to_thread(con.close)

    return extension
