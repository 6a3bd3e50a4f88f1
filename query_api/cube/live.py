"""Fan-out of "the cube changed" notices to server-sent-event subscribers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = ["Change", "LiveHub"]


@dataclass(frozen=True)
class Change:
    position: int
    count: int
    """Listens added by the batch."""
    removed: int = 0


@dataclass
class LiveHub:
    """Each subscriber gets a bounded queue; a slow one loses old notices, never blocks the cube."""

    queue_size: int = 64
    _subscribers: set[asyncio.Queue[Change]] = field(default_factory=set)

    def publish(self, change: Change) -> None:
        for queue in list(self._subscribers):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(change)

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[asyncio.Queue[Change]]:
        queue: asyncio.Queue[Change] = asyncio.Queue(self.queue_size)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)
