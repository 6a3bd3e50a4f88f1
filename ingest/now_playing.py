"""Now playing: ephemeral, per user, in a JetStream key-value bucket (not a listen).

An entry lives for the track's remaining duration (10 minutes when unknown). nats-py's
``KeyValue.put`` cannot set a per-key TTL, so every entry carries its ``expires_at`` and readers
drop expired ones; the bucket's own TTL (10 minutes, :data:`scrobbler.stream.NOW_PLAYING_TTL_S`)
is the upper bound that removes entries nobody overwrote. Keys are ``<subject prefix>.<user hash>``
so deployments (and tests) sharing one NATS account do not see each other's entries.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import msgspec
import nats.errors
import nats.js.errors
from nats.js.kv import KeyValue

from scrobbler.errors import Unavailable
from scrobbler.stream import NOW_PLAYING_TTL_S, StreamClient, ensure_now_playing

__all__ = ["DEFAULT_TTL_S", "NowPlaying", "NowPlayingEntry", "entry_ttl", "expires"]

DEFAULT_TTL_S = NOW_PLAYING_TTL_S
"""How long an entry lives when the track's length is unknown (and the longest it can live)."""


class NowPlayingEntry(msgspec.Struct, frozen=True, kw_only=True):
    """What a user is playing, as a client said it."""

    user: str
    title: str
    artist: str
    started_at: datetime
    expires_at: datetime
    album: str | None = None
    duration_secs: int | None = None
    source: str = "listenbrainz"
    client: str | None = None
    media_id: str | None = None
    extra: dict[str, Any] | None = None
    playback: dict[str, Any] | None = None
    """OpenSubsonic ``reportPlayback`` session state (see :mod:`ingest.subsonic.playback`)."""


def entry_ttl(duration_secs: int | None, position_secs: float = 0.0) -> float:
    """Seconds an entry should live: the rest of the track, at most the bucket's TTL."""
    if not duration_secs or duration_secs <= 0:
        return DEFAULT_TTL_S
    return max(1.0, min(DEFAULT_TTL_S, duration_secs - max(0.0, position_secs)))


_DECODER = msgspec.json.Decoder(NowPlayingEntry)
_ENCODER = msgspec.json.Encoder()
_ERRORS = (nats.errors.Error, nats.js.errors.Error, TimeoutError, OSError)


@dataclass
class NowPlaying:
    """The now-playing bucket of one deployment (its subject prefix scopes the keys)."""

    stream: StreamClient
    prefix: str
    _kv: KeyValue | None = field(default=None)

    def key(self, user: str) -> str:
        return f"{self.prefix}.{hashlib.sha256(user.encode()).hexdigest()[:32]}"

    async def _bucket(self) -> KeyValue:
        if self._kv is None:
            if self.stream.js is None or not self.stream.connected:
                raise Unavailable("the event stream is not reachable; retry later")
            try:
                self._kv = await ensure_now_playing(self.stream.js, self.stream.settings)
            except _ERRORS as exc:
                raise Unavailable("the now-playing bucket is not reachable; retry later") from exc
        return self._kv

    async def set(self, entry: NowPlayingEntry) -> None:
        kv = await self._bucket()
        try:
            await kv.put(self.key(entry.user), _ENCODER.encode(entry))
        except _ERRORS as exc:
            raise Unavailable("the now-playing bucket did not acknowledge the write; retry later") from exc

    async def get(self, user: str, now: datetime) -> NowPlayingEntry | None:
        """The user's live entry, or None (nothing playing, or expired)."""
        kv = await self._bucket()
        try:
            found = await kv.get(self.key(user))
        except nats.js.errors.KeyNotFoundError:
            return None
        except _ERRORS as exc:
            raise Unavailable("the now-playing bucket is not reachable; retry later") from exc
        if not found.value:
            return None
        entry = _DECODER.decode(found.value)
        return entry if entry.expires_at > now else None

    async def clear(self, user: str) -> None:
        kv = await self._bucket()
        try:
            await kv.delete(self.key(user))
        except _ERRORS as exc:
            raise Unavailable("the now-playing bucket did not acknowledge the write; retry later") from exc

    async def all(self, now: datetime) -> list[NowPlayingEntry]:
        """Every live entry of this deployment, newest first."""
        kv = await self._bucket()
        entries: list[NowPlayingEntry] = []
        try:
            watcher = await kv.watch(f"{self.prefix}.*", ignore_deletes=True)
            try:
                async for item in watcher:
                    if item is None:
                        break
                    if item.value:
                        entry = _DECODER.decode(item.value)
                        if entry.expires_at > now:
                            entries.append(entry)
                    if not item.delta:
                        break
            finally:
                await watcher.stop()  # type: ignore[no-untyped-call]
        except _ERRORS as exc:
            raise Unavailable("the now-playing bucket is not reachable; retry later") from exc
        return sorted(entries, key=lambda e: e.started_at, reverse=True)


def expires(now: datetime, duration_secs: int | None, position_secs: float = 0.0) -> datetime:
    """When an entry started ``now`` at ``position_secs`` into the track stops being current."""
    return now + timedelta(seconds=entry_ttl(duration_secs, position_secs))
