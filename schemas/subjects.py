"""Subject layout of the stream: user events partitioned by a stable hash of the user name.

``<prefix>.u.<bucket>.<user-key>`` keeps one user's events on one subject (ordered) and lets
projector partition ``i/N`` take the buckets ``b`` with ``b % N == i``; ``<prefix>.g`` carries
events that concern every user (config, jobs), which every partition reads. Tombstones have
subjects of their own, ``<prefix>.t.<bucket>.<user-key>`` and ``<prefix>.t.all``, so ingest can
read the latest one of a user with one direct get (see :mod:`ingest.epochs`).
"""

from __future__ import annotations

import hashlib

__all__ = [
    "BUCKETS",
    "global_subject",
    "partition_filters",
    "stream_subjects",
    "tombstone_subject",
    "user_bucket",
    "user_subject",
]

BUCKETS = 64
"""Fixed number of hash buckets; up to this many projector partitions."""


def _digest(user: str) -> bytes:
    return hashlib.blake2b(user.encode(), digest_size=8).digest()


def user_bucket(user: str) -> int:
    """The bucket (0..BUCKETS-1) a user's events go to."""
    return int.from_bytes(_digest(user), "big") % BUCKETS


def user_subject(prefix: str, user: str) -> str:
    """The subject of one user's events."""
    return f"{prefix}.u.{user_bucket(user):02d}.{_digest(user).hex()}"


def global_subject(prefix: str) -> str:
    """The subject of events that concern every user."""
    return f"{prefix}.g"


def tombstone_subject(prefix: str, user: str | None) -> str:
    """The subject of a user's tombstones, or of tombstones for every user."""
    if user is None:
        return f"{prefix}.t.all"
    return f"{prefix}.t.{user_bucket(user):02d}.{_digest(user).hex()}"


def stream_subjects(prefix: str) -> list[str]:
    """The subjects the stream captures."""
    return [f"{prefix}.u.>", f"{prefix}.t.>", global_subject(prefix)]


def partition_filters(prefix: str, index: int, count: int) -> list[str]:
    """Consumer filter subjects of partition ``index`` of ``count`` (global events included)."""
    if not 0 <= index < count <= BUCKETS:
        raise ValueError(f"partition {index}/{count}: need 0 <= index < count <= {BUCKETS}")
    if count == 1:
        return stream_subjects(prefix)
    buckets = [b for b in range(BUCKETS) if b % count == index]
    return [
        *(f"{prefix}.u.{b:02d}.*" for b in buckets),
        *(f"{prefix}.t.{b:02d}.*" for b in buckets),
        tombstone_subject(prefix, None),
        global_subject(prefix),
    ]
