"""Tombstone epochs: why a listen deleted and submitted again is not dropped as a duplicate.

The stream drops a publish whose ``Nats-Msg-Id`` it saw within its duplicate window. A listen's
message id is its listen id, suffixed with the sequence of the newest tombstone that covers its
user (``@<seq>``) once there is one, so after ``DELETE /api/v1/listens`` the same plays can be
imported again at once, while plain retries are still dropped.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import nats.errors
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from schemas.subjects import tombstone_subject

__all__ = ["TombstoneEpochs"]


@dataclass
class TombstoneEpochs:
    stream: str
    prefix: str
    ttl: float = 1.0
    _cache: dict[str | None, tuple[float, int]] = field(default_factory=dict)

    async def _last_seq(self, js: JetStreamContext, user: str | None) -> int:
        hit = self._cache.get(user)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        try:
            msg = await js.get_last_msg(self.stream, tombstone_subject(self.prefix, user), direct=True)
            seq = int(msg.seq or 0)
        except (NotFoundError, nats.errors.NoRespondersError):
            seq = 0
        self._cache[user] = (now, seq)
        return seq

    def _fresh(self, user: str | None, now: float) -> int | None:
        hit = self._cache.get(user)
        return hit[1] if hit is not None and now - hit[0] < self.ttl else None

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
        """Drop cached epochs after this process wrote a tombstone."""
        if user is None:
            self._cache.clear()
        else:
            self._cache.pop(user, None)
