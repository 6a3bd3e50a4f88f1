"""MusicBrainz tag lookups: one request per second, a proper User-Agent, results cached.

MusicBrainz asks clients for at most one request per second per IP and a meaningful
User-Agent, and answers 503 to clients that go faster; a 503 is retried after a pause.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog

__all__ = ["MusicBrainzClient", "RateLimiter", "best_tags"]

log = structlog.get_logger(__name__)

MAX_GENRES = 5


@dataclass
class RateLimiter:
    """At most one call per ``interval_s`` (shared by every caller of this process)."""

    interval_s: float = 1.0
    _next: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def wait(self) -> None:
        async with self._lock:
            now = time.monotonic()
            if self._next > now:
                await asyncio.sleep(self._next - now)
            self._next = max(now, self._next) + self.interval_s

    def finished(self) -> None:
        """A request just got its answer: the next one starts a full interval later.

        Counting from the answer, not the send, keeps arrivals at the server an interval apart
        even when a request was slow to leave (a new connection, a busy loop).
        """
        self._next = max(self._next, time.monotonic() + self.interval_s)


def best_tags(entity: dict[str, Any]) -> tuple[str, ...]:
    """The entity's genres (MusicBrainz's curated subset of tags), else its tags; most voted first. Pure."""
    for key in ("genres", "tags"):
        items = [t for t in entity.get(key) or [] if isinstance(t, dict) and t.get("name")]
        ranked = sorted(items, key=lambda t: (-int(t.get("count") or 0), str(t["name"])))
        names = [str(t["name"]).strip()[:64] for t in ranked if int(t.get("count") or 0) > 0]
        if names:
            return tuple(dict.fromkeys(names))[:MAX_GENRES]
    return ()


@dataclass
class MusicBrainzClient:
    """Recording and artist tags from the MusicBrainz web service (``.../ws/2``)."""

    base_url: str
    user_agent: str
    http: httpx.AsyncClient
    limiter: RateLimiter = field(default_factory=RateLimiter)
    cache_size: int = 50_000
    requests: int = 0
    _cache: OrderedDict[str, tuple[str, ...]] = field(default_factory=OrderedDict)

    async def _get(self, path: str, params: dict[str, str]) -> dict[str, Any] | None:
        for attempt in range(4):
            await self.limiter.wait()
            self.requests += 1
            try:
                response = await self.http.get(
                    f"{self.base_url.rstrip('/')}/{path}",
                    params={**params, "fmt": "json"},
                    headers={"User-Agent": self.user_agent, "Accept": "application/json"},
                )
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                self.limiter.finished()
                log.info("musicbrainz unreachable", error=str(exc), attempt=attempt)
                await asyncio.sleep(2**attempt)
                continue
            self.limiter.finished()
            if response.status_code in (429, 503):
                await asyncio.sleep(2**attempt)
                continue
            if response.status_code == 404:
                return None
            if response.status_code >= 400:
                log.info("musicbrainz refused", status=response.status_code, path=path)
                return None
            data = response.json()
            return data if isinstance(data, dict) else None
        return None

    async def tags(self, key: str) -> tuple[str, ...]:
        """Tags for a lookup key: ``recording:<mbid>``, ``artist:<mbid>`` or ``artist-name:<name>``."""
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        kind, _, value = key.partition(":")
        found: tuple[str, ...] = ()
        if kind in ("recording", "artist"):
            data = await self._get(f"{kind}/{value}", {"inc": "tags+genres"})
            found = best_tags(data) if data else ()
        elif kind == "artist-name":
            escaped = value.replace("\\", "\\\\").replace('"', '\\"')
            data = await self._get("artist", {"query": f'artist:"{escaped}"', "limit": "1"})
            hits = (data or {}).get("artists") or []
            if hits and int(hits[0].get("score") or 0) >= 90:
                found = best_tags(hits[0])
        self._cache[key] = found
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return found
