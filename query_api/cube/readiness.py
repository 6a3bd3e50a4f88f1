"""Readiness of a query-API replica: ready once its cube has caught up with the stream.

The target is the stream's last sequence as it was when the replica started, so a new replica
(an empty cube) or one restarted after a while reports ``/readyz`` 503 until it has folded
everything that was there, and a proxy sends it no reads meanwhile. Once caught up it stays
ready: the cube keeps following new events, and a busy stream must not make replicas flap.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import nats.errors
import nats.js.errors
import structlog
from litestar import Litestar

from query_api.cube.extension import Cube
from query_api.state import QueryState
from scrobbler.errors import Unavailable
from scrobbler.settings import Settings

__all__ = ["READY_CHECKS", "cube_readiness"]

log = structlog.get_logger(__name__)

READY_CHECKS = "ready_checks"
"""``QueryState.extras`` key: ``{name: async check}`` that ``/readyz`` runs beside its own."""


def cube_readiness(
    settings: Settings,
) -> Callable[[Litestar, QueryState], contextlib.AbstractAsyncContextManager[None]]:
    """The extension that adds the ``cube`` readiness check (enter it after the cube extension)."""

    @contextlib.asynccontextmanager
    async def extension(app: Litestar, state: QueryState) -> AsyncIterator[None]:
        target: int | None = None
        caught_up = False

        async def learn_target() -> None:
            nonlocal target
            while target is None:
                await state.stream.wait_ready()
                assert state.stream.js is not None
                try:
                    info = await state.stream.js.stream_info(settings.nats.stream)
                except (nats.errors.Error, nats.js.errors.Error, TimeoutError) as exc:
                    log.warning("stream info unavailable, retrying", error=repr(exc))
                    await asyncio.sleep(0.5)
                    continue
                target = int(info.state.last_seq or 0)
                log.info("cube catch-up target", stream=settings.nats.stream, last_seq=target)

        async def cube_ready() -> None:
            nonlocal caught_up
            if caught_up:
                return
            cube = state.extras.get("cube")
            if not isinstance(cube, Cube):
                raise Unavailable("the stats cube is not open")
            if target is None:
                raise Unavailable("waiting for the stream's last sequence")
            if cube.position < target:
                raise Unavailable(f"catching up: at {cube.position} of {target}")
            caught_up = True
            log.info("cube caught up", position=cube.position, target=target)

        checks: dict[str, Callable[[], Awaitable[None]]] = state.extras.setdefault(READY_CHECKS, {})
        checks["cube"] = cube_ready
        task = asyncio.create_task(learn_target(), name="cube-readiness")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            checks.pop("cube", None)

    return extension
