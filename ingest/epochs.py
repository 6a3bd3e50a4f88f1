"""Tombstone epochs: why a listen deleted and submitted again is not dropped as a duplicate.

The stream drops a publish whose ``Nats-Msg-Id`` it saw within its duplicate window. A listen's
message id is its listen id, suffixed with the sequence of the newest tombstone that covers its
user (``@<seq>``) once there is one, so after ``DELETE /api/v1/listens`` the same plays can be
imported again at once, while plain retries are still dropped.

Epochs are read from the stream once per user and kept: a plain NATS subscription on the
tombstone subjects sees every tombstone any ingest replica appends and drops the cache, and so
does a reconnect (a tombstone may have passed unseen). ``ttl`` only bounds how long an epoch is
trusted should that subscription be missing. Concurrent lookups of one user share one read.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import nats.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from ingest.single_flight import shared_load
from schemas.subjects import tombstone_subject

__all__ = ["TombstoneEpochs"]


@dataclass
class TombstoneEpochs:
    stream: str
    prefix: str
    ttl: float = 1.0
    watched_ttl: float = 300.0
    _cache: dict[str | None, tuple[float, int]] = field(default_factory=dict)
    _loading: dict[str | None, asyncio.Future[int]] = field(default_factory=dict)
    _sub: Subscription | None = None
    _generation: int = 0

    async def watch(self, nc: NATS) -> None:
        """Drop cached epochs whenever a tombstone is appended (by any process) or NATS reconnects."""
        if self._sub is None:
            self._sub = await nc.subscribe(f"{self.prefix}.t.>", cb=self._on_tombstone)

    async def _on_tombstone(self, _: Msg) -> None:
        self.forget(None)

    def _lifetime(self) -> float:
        return self.watched_ttl if self._sub is not None else self.ttl

    async def _read_last_seq(self, js: JetStreamContext, user: str | None) -> int:
        try:
            msg = await js.get_last_msg(self.stream, tombstone_subject(self.prefix, user), direct=True)
            return int(msg.seq or 0)
        except (NotFoundError, nats.errors.NoRespondersError):
            return 0

    async def _last_seq(self, js: JetStreamContext, user: str | None) -> int:
        async def read_and_keep() -> int:
            generation = self._generation
            seq = await self._read_last_seq(js, user)
            if generation == self._generation:  # no tombstone passed while reading
                self._cache[user] = (time.monotonic(), seq)
            return seq

        return await shared_load(self._loading, user, read_and_keep)

    def _fresh(self, user: str | None, now: float) -> int | None:
        hit = self._cache.get(user)
        return hit[1] if hit is not None and now - hit[0] < self._lifetime() else None

    async def epochs(self, js: JetStreamContext, users: set[str]) -> dict[str, int]:
        """The epoch of each user: the newest tombstone's sequence for them or for everyone (0: none)."""
        now = time.monotonic()
        everyone = self._fresh(None, now)
        mine = {u: self._fresh(u, now) for u in users}
        if everyone is None or None in mine.values():  # the hot path above needs no await
            missing = [u for u, seq in mine.items() if seq is None]
            everyone, *found = await asyncio.gather(
                self._last_seq(js, None), *(self._last_seq(js, u) for u in missing)
            )
            mine.update(zip(missing, found, strict=True))
        return {u: max(everyone, seq or 0) for u, seq in mine.items()}

    def forget(self, user: str | None) -> None:
        """Drop cached epochs after a tombstone (``None``: every user's)."""
        self._generation += 1
        if user is None:
            self._cache.clear()
        else:
            self._cache.pop(user, None)
