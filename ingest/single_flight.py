"""One load per key at a time, however many requests ask for it at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import TypeVar

__all__ = ["shared_load"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


async def shared_load(loading: dict[K, asyncio.Future[V]], key: K, load: Callable[[], Awaitable[V]]) -> V:
    """Await ``load()`` for ``key``, or the load already under way for it.

    The load runs in its own task, so a caller that is cancelled (a client hanging up) does not
    cancel it for the others; the key is free again as soon as it finished.
    """
    task = loading.get(key)
    if task is None:
        task = loading[key] = asyncio.ensure_future(load())

        def release(done: asyncio.Future[V]) -> None:
            if loading.get(key) is done:
                del loading[key]

        task.add_done_callback(release)
    return await asyncio.shield(task)
