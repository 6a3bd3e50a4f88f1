"""ListenBrainz's ``latest-import`` marker: the newest imported listen per user, as importers set it.

Kept in a JetStream key-value bucket (file storage, one revision per key), keyed like now
playing by ``<subject prefix>.<user hash>``. It is an importer's bookmark, not a listen, so it is
not an event of the listen stream.
"""

from __future__ import annotations

import hashlib

import nats.errors
import nats.js.errors
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue

from scrobbler.errors import Unavailable
from scrobbler.stream import StreamClient

__all__ = ["BUCKET", "get_latest_import", "set_latest_import"]

BUCKET = "latest_import"
_ERRORS = (nats.errors.Error, nats.js.errors.Error, TimeoutError, OSError)


def _key(prefix: str, user: str) -> str:
    return f"{prefix}.{hashlib.sha256(user.encode()).hexdigest()[:32]}"


async def _bucket(stream: StreamClient) -> KeyValue:
    if stream.js is None or not stream.connected:
        raise Unavailable("the event stream is not reachable; retry later")
    try:
        try:
            return await stream.js.key_value(BUCKET)
        except nats.js.errors.NotFoundError:
            return await stream.js.create_key_value(
                KeyValueConfig(
                    bucket=BUCKET, history=1, storage=StorageType.FILE, replicas=stream.settings.replicas
                )
            )
    except _ERRORS as exc:
        raise Unavailable("the latest-import bucket is not reachable; retry later") from exc


async def get_latest_import(stream: StreamClient, user: str) -> int:
    kv = await _bucket(stream)
    try:
        entry = await kv.get(_key(stream.settings.subject_prefix, user))
    except nats.js.errors.KeyNotFoundError:
        return 0
    except _ERRORS as exc:
        raise Unavailable("the latest-import bucket is not reachable; retry later") from exc
    return int(entry.value or b"0")


async def set_latest_import(stream: StreamClient, user: str, ts: int) -> None:
    kv = await _bucket(stream)
    try:
        await kv.put(_key(stream.settings.subject_prefix, user), str(ts).encode())
    except _ERRORS as exc:
        raise Unavailable("the latest-import bucket did not acknowledge the write; retry later") from exc
